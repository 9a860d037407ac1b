#!/usr/bin/env node
"use strict";
// GramJS's side of the "many clients" rows of `make bench` (bench/many.lua is ours): n
// TelegramClient objects in this one Node process, against a running mtproto-testdc.
//
//   node bench/gramjs_many.js @args.json
//
// args: the test DC's start-up JSON (host, ports, rsa_public_pem, fingerprint) plus n (clients,
// default 1000), dc (default 2), transport (default "padded").
// Phases, each started for every client at once and timed until the last one is done:
//   connect  client.connect(): the handshake, then initConnection(help.getConfig)
//   calls    auth.sendCode on a number of its own, then auth.resendCode
// Prints `many.<phase>_<what> value` lines, as bench/many.lua does for ours:
//   s  kb_per_client (RSS added since before the first client / n)  late_ms (the worst
//   lateness of a 10 ms timer beside the clients)  errors
// The longest single step is not measured here (Node gives no hook between two callbacks).
const fs = require("fs");
const path = require("path");
const common = require(path.join(__dirname, "..", "interop", "gramjs_common.js"));
const { Api, API_ID, API_HASH } = common;

const raw = process.argv[2] || "{}";
const args = JSON.parse(raw.startsWith("@") ? fs.readFileSync(raw.slice(1), "utf8") : raw);
const n = Number(args.n || 1000);
const dc = Number(args.dc || 2);
const transport = args.transport || "padded";
const nowS = () => Number(process.hrtime.bigint()) / 1e9;

// The i-th ordinary test number of the DC (kind digit 0, 1, 5 or 9).
function testPhone(i) {
    return `99966${dc}${[0, 1, 5, 9][Math.floor(i / 1000)]}${String(i % 1000).padStart(3, "0")}`;
}

// A 10 ms timer beside the clients: the worst lateness of its ticks while `on` holds.
function ticker() {
    const t = { worst: 0, on: true };
    const arm = () => {
        const at = nowS();
        setTimeout(() => {
            const late = nowS() - at - 0.01;
            if (late > t.worst) t.worst = late;
            if (t.on) arm();
        }, 10);
    };
    arm();
    return t;
}

let errors = 0;
let rss0 = 0;
async function phase(name, fn) {
    const timer = ticker();
    const t0 = nowS();
    await Promise.all(Array.from({ length: n }, (_, i) => fn(i).catch((e) => {
        errors++;
        console.error(`gramjs_many: ${name} ${i}: ${(e && e.message) || e}`);
    })));
    const dt = nowS() - t0;
    timer.on = false;
    const rss = process.memoryUsage().rss;
    console.log(`many.${name}_s ${dt.toFixed(3)}`);
    console.log(`many.${name}_kb_per_client ${((rss - rss0) / 1024 / n).toFixed(1)}`);
    console.log(`many.${name}_late_ms ${(timer.worst * 1000).toFixed(2)}`);
}

async function main() {
    if (global.gc) global.gc();
    rss0 = process.memoryUsage().rss;
    const clients = [];
    await phase("connect", async (i) => {
        const c = common.makeClient(args, transport, dc);
        clients[i] = c;
        if (!(await c.connect())) throw new Error("cannot connect");
    });
    await phase("calls", async (i) => {
        const c = clients[i], phone = testPhone(i);
        const sent = await c.invoke(new Api.auth.SendCode({
            phoneNumber: phone, apiId: API_ID, apiHash: API_HASH, settings: new Api.CodeSettings({}),
        }));
        const again = await c.invoke(new Api.auth.ResendCode({ phoneNumber: phone, phoneCodeHash: sent.phoneCodeHash }));
        if (again.className !== "auth.SentCode") throw new Error(`resendCode answered ${again.className}`);
    });
    console.log(`many.errors ${errors}`);
}

main().then(() => process.exit(0), (e) => {
    console.error(`gramjs_many: ${(e && e.stack) || e}`);
    process.exit(1);
});
