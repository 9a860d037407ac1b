#!/usr/bin/env node
"use strict";
// GramJS's side of the network rows of `make bench`, against a running mtproto-testdc.
//
//   node bench/gramjs_net.js @args.json
//
// args: the test DC's start-up JSON (host, ports, rsa_public_pem, fingerprint) plus
//   mode       "handshake" | "seq" | "pipe"
//   n          handshakes, or auth.resendCode calls (default 20 / 2000 / 10000)
//   window     calls in flight for "pipe" (default 256): Promise.all over batches of this size
//   transport  default "padded" (what our client uses by default)
//   dc         default 2
// Prints `name value` lines (bench/net.lua prints the same names for our side):
//   handshake.client_cpu_ms  handshake.wall_ms                                   (mode handshake)
//   net.<mode>_calls_per_s  net.<mode>_cpu_us_per_call  net.<mode>_maxrss_kb
//   net.<mode>_rss_bytes_per_call  net.<mode>_errors                            (mode seq|pipe)
// CPU is this process's user+system time (getrusage), so it is the client's alone; maxrss
// is the peak resident set of this process. Every auth.resendCode must answer an
// auth.sentCode: the calls cycle over n/3 fresh numbers (App -> Sms -> Call -> FlashCall),
// their auth.sendCode done before the clock starts.
const fs = require("fs");
const path = require("path");
const common = require(path.join(__dirname, "..", "interop", "gramjs_common.js"));
const modules = path.join(__dirname, "..", "interop", "node_modules");
const { MTProtoPlainSender } = require(path.join(modules, "telegram/network/MTProtoPlainSender"));
const { doAuthentication } = require(path.join(modules, "telegram/network/Authenticator"));
const { PromisedNetSockets } = require(path.join(modules, "telegram/extensions/PromisedNetSockets"));
const { Logger, LogLevel } = require(path.join(modules, "telegram/extensions/Logger"));
const { Api, API_ID, API_HASH } = common;

const raw = process.argv[2] || "{}";
const args = JSON.parse(raw.startsWith("@") ? fs.readFileSync(raw.slice(1), "utf8") : raw);
const mode = args.mode || "seq";
const transport = args.transport || "padded";
const dc = Number(args.dc || 2);

const cpuUs = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
};
const nowS = () => Number(process.hrtime.bigint()) / 1e9;

async function handshakes(n) {
    common.injectServerKey(args.rsa_public_pem, args.fingerprint);
    const Conn = common.connectionFor(transport, args.host, args.ports);
    const log = new Logger(LogLevel.NONE);
    let shortKeys = 0;
    const one = async () => {
        for (;;) {
            const conn = new Conn({ ip: args.host, port: 0, dcId: dc, loggers: log, socket: PromisedNetSockets });
            await conn.connect();
            try {
                const res = await doAuthentication(new MTProtoPlainSender(conn, log), log);
                if (!res.authKey || !res.authKey.getKey()) throw new Error("no auth key");
                return;
            } catch (e) {
                // GramJS's 255-byte auth key (1 in 256, see interop/gramjs_common.js): its CPU
                // counts, and it tries again as GramJS itself would
                if (common.classifyHandshakeError(e) !== "short_key") throw e;
                shortKeys++;
            } finally {
                await conn.disconnect();
            }
        }
    };
    await one(); // warm up the JIT and the server
    const c0 = cpuUs(), t0 = nowS();
    for (let i = 0; i < n; i++) await one();
    console.log(`handshake.client_cpu_ms ${((cpuUs() - c0) / 1000 / n).toFixed(3)}`);
    console.log(`handshake.wall_ms ${((nowS() - t0) * 1000 / n).toFixed(3)}`);
    console.log(`handshake.short_key_retries ${shortKeys}`);
}

// The i-th ordinary test number of DC dc: 99966 X K YYY with K one of 0, 1, 5, 9 (the other
// kind digits choose the test DC's special logins: password, sign-up, email, paid, missed call).
function testPhone(dc, i) {
    i %= 4000;
    return `99966${dc}${[0, 1, 5, 9][Math.floor(i / 1000)]}${String(i % 1000).padStart(3, "0")}`;
}

async function calls(n, window) {
    const client = common.makeClient(args, transport, dc);
    if (!(await client.connect())) throw new Error("cannot connect");
    const phones = Math.ceil(n / 3);
    if (phones > 4000) throw new Error("at most 12000 calls (4000 ordinary test numbers per DC)");
    const base = Math.floor(Math.random() * 4000);
    const state = [];
    for (let i = 0; i < phones; i += 256) {
        const batch = [];
        for (let j = i; j < Math.min(phones, i + 256); j++) {
            // distinct numbers on this DC, so no one number is asked too often
            const phone = testPhone(dc, base + j);
            batch.push(client.invoke(new Api.auth.SendCode({
                phoneNumber: phone, apiId: API_ID, apiHash: API_HASH, settings: new Api.CodeSettings({}),
            })).then((sc) => state[j] = { phone, hash: sc.phoneCodeHash }));
        }
        await Promise.all(batch);
    }
    let errors = 0;
    const call = (k) => {
        const st = state[k % phones];
        return client.invoke(new Api.auth.ResendCode({ phoneNumber: st.phone, phoneCodeHash: st.hash }))
            .then((sc) => {
                if (sc.className !== "auth.SentCode") errors++;
                else st.hash = sc.phoneCodeHash;
            }, () => errors++);
    };
    if (global.gc) global.gc();
    const rss0 = process.memoryUsage().rss;
    const c0 = cpuUs(), t0 = nowS();
    if (window <= 1) {
        for (let k = 0; k < n; k++) await call(k);
    } else {
        for (let k = 0; k < n; k += window) {
            const batch = [];
            for (let j = k; j < Math.min(n, k + window); j++) batch.push(call(j));
            await Promise.all(batch);
        }
    }
    const dt = nowS() - t0, dc0 = cpuUs() - c0;
    const maxrss = process.resourceUsage().maxRSS; // KiB
    console.log(`net.${mode}_calls_per_s ${(n / dt).toFixed(1)}`);
    console.log(`net.${mode}_cpu_us_per_call ${(dc0 / n).toFixed(2)}`);
    console.log(`net.${mode}_maxrss_kb ${maxrss}`);
    console.log(`net.${mode}_rss_bytes_per_call ${Math.max(0, (maxrss * 1024 - rss0) / n).toFixed(1)}`);
    console.log(`net.${mode}_errors ${errors}`);
    await client.destroy();
}

async function main() {
    if (mode === "handshake") {
        await handshakes(Number(args.n || 20));
    } else if (mode === "seq") {
        await calls(Number(args.n || 2000), 1);
    } else if (mode === "pipe") {
        await calls(Number(args.n || 10000), Number(args.window || 256));
    } else {
        throw new Error(`unknown mode ${mode}`);
    }
}

main().then(() => process.exit(0), (e) => {
    console.error(`gramjs_net: ${(e && e.stack) || e}`);
    process.exit(1);
});
