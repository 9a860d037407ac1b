#!/usr/bin/env node
// mtcute walks the login-code ladder against the local test DC and checks every answer. It is
// driven through its low-level API (client.call with raw TL objects): its high-level login
// helpers would hide the steps.
//
//   node interop/mtcute_login.mjs '<json>'    or    node interop/mtcute_login.mjs @file.json
//
// <json> describes one walk, or several as {"runs": [walk, ...]} (they run at once, in one
// process: loading mtcute costs more CPU than a walk). A walk is the test DC's start-up line
// (host, ports, rsa_public_pem, fingerprint) plus
//   name       a label for the result (default: the transport)
//   transport  intermediate|padded|obfuscated-intermediate|obfuscated-padded
//   dc         home DC (default 2)
//   migrate    also follow a PHONE_MIGRATE_X to the other DC and sign in there (default true)
//   proxy      a link (https://t.me/proxy?... or socks5://...): every connection through it, with
//              the codec the proxy kind sets (transport is then only a label)
//   pfs        mtcute's perfect forward secrecy on (default false)
// and <json> may say timeout_ms, a watchdog for the whole process (default 30000).
// Prints ONE JSON line {ok, runs: [{name, ok, transport, dc, auth_key_id, checks, failures,
// steps, ...}, ...]}; exit status 0 when every check passed, 1 on a mismatch, 2 on a crash, 3
// on the watchdog.

import fs from "node:fs";
import { checker } from "./walk_checks.js";
import { API_ID, API_HASH, makeClient, describeError, authKeyId, callRaw, isShortKeyFailure, stats } from "./mtcute_common.mjs";

const raw = process.argv[2] || "{}";
const input = JSON.parse(raw.startsWith("@") ? fs.readFileSync(raw.slice(1), "utf8") : raw);
const walks = (input.runs || [input]).map((args) => ({
    args,
    result: { name: args.name || args.transport, ok: false, transport: args.transport, dc: Number(args.dc || 2),
        checks: 0, failures: [], steps: [], mtcute_short_key_retries: 0 },
}));

function emit(code) {
    for (const w of walks) {
        w.result.ok = w.result.failures.length === 0 && w.done === true;
    }
    const ok = code === 0 && walks.every((w) => w.result.ok);
    const out = { ok, gzipped_requests: stats.gzipped, runs: walks.map((w) => w.result) };
    process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(ok ? 0 : code || 1));
}

setTimeout(() => {
    for (const { result } of walks.filter((w) => !w.done)) {
        result.failures.push(`watchdog: no end after ${input.timeout_ms || 30000} ms (last step: ${
            result.steps.length ? result.steps[result.steps.length - 1].step : "connect"})`);
    }
    emit(3);
}, Number(input.timeout_ms || 30000));

// The checks of one walk, recorded in its result. A raw connection answers an rpc_error as an
// mt_rpc_error object: recorded as an error too.
function walkChecker(result) {
    const c = checker(result, {
        nameOf: (r) => r._,
        errorOf: (r) => (r && r._ === "mt_rpc_error" ? describeError(r) : undefined),
        describeError,
    });
    return {
        ...c,
        // One auth.sentCode: its type (and length/pattern), next_type and timeout.
        checkSentCode(name, sc, type, nextType) {
            c.checkSentCode(name, sc && {
                name: sc._, type: sc.type && sc.type._, length: sc.type && sc.type.length,
                pattern: sc.type && sc.type.pattern, hash: sc.phoneCodeHash,
                nextType: sc.nextType && sc.nextType._, timeout: sc.timeout,
            }, "auth.sentCode", type, nextType);
        },
        // mtcute reports connection failures (handshake, transport) here, not to the call: keep
        // them, except its own short-auth-key defect (see mtcute_common.mjs), which it retries.
        onError(e) {
            if (isShortKeyFailure(e)) {
                result.mtcute_short_key_retries++;
                return;
            }
            result.failures.push("client error: " + String((e && e.stack) || e).split("\n").slice(0, 4).join(" | "));
        },
    };
}

const rand3 = () => String(Math.floor(Math.random() * 1000)).padStart(3, "0");
// 99966X1YYY: an ordinary test number of DC X (the 7th digit picks the login path; 1 is the plain one)
const testPhone = (x) => `99966${x}1${rand3()}`;
const sendCode = (phone, settings) => ({
    _: "auth.sendCode", phoneNumber: phone, apiId: API_ID, apiHash: API_HASH, settings: settings || { _: "codeSettings" },
});
// codeSettings with the logout tokens of earlier sessions (Telegram's apps send up to 20): a
// request large enough for mtcute to send it gzip_packed
const withTokens = () => ({ _: "codeSettings", logoutTokens: Array.from({ length: 8 }, (_, i) => Buffer.alloc(64, i)) });
const resendCode = (phone, hash) => ({ _: "auth.resendCode", phoneNumber: phone, phoneCodeHash: hash });
const signIn = (phone, hash, code) => ({ _: "auth.signIn", phoneNumber: phone, phoneCodeHash: hash, phoneCode: code });

async function walk({ args, result }) {
    const { check, step, expectError, expectValue, checkSentCode, onError } = walkChecker(result);
    const dc = result.dc;
    const client = makeClient(args, args.transport, dc, onError);
    const other = dc === 1 ? 2 : 1;

    // Handshake (req_pq_multi, req_DH_params, set_client_DH_params) and the first call, which
    // mtcute wraps as invokeWithLayer(initConnection(help.getConfig)).
    const t0 = process.hrtime.bigint();
    let r = await step("help.getConfig", () => client.call({ _: "help.getConfig" }));
    result.connect_ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cfg = expectValue("help.getConfig", r);
    if (cfg) {
        check("help.getConfig", cfg.thisDc === dc, `this_dc ${cfg.thisDc}`);
        for (const [id, port] of Object.entries(args.ports || {})) {
            check("help.getConfig", cfg.dcOptions.some((o) => o.id === Number(id) && o.port === Number(port)),
                `no dc_option for DC ${id} port ${port}`);
        }
    }
    const key = await authKeyId(client);
    result.auth_key_id = key.id;
    check("connect", key.dc === dc && key.id !== null, `no auth key on DC ${dc}`);

    r = await step("help.getNearestDc", () => client.call({ _: "help.getNearestDc" }));
    const near = expectValue("help.getNearestDc", r);
    if (near) {
        check("help.getNearestDc", near.thisDc === dc, `this_dc ${near.thisDc}`);
    }
    // what mtcute's updates manager asks too: is this key signed in?
    r = await step("updates.getState unauthorized", () => client.call({ _: "updates.getState" }));
    expectError("updates.getState unauthorized", r, 401, "AUTH_KEY_UNREGISTERED");

    // auth.sendCode, then auth.resendCode through every type until SEND_CODE_UNAVAILABLE.
    const phone = testPhone(dc);
    r = await step("auth.sendCode", () => client.call(sendCode(phone)));
    let sc = expectValue("auth.sendCode", r);
    checkSentCode("auth.sendCode", sc, "auth.sentCodeTypeApp", "auth.codeTypeSms");
    let hash = sc && sc.phoneCodeHash;
    const chain = [
        ["auth.sentCodeTypeSms", "auth.codeTypeCall"],
        ["auth.sentCodeTypeCall", "auth.codeTypeFlashCall"],
        ["auth.sentCodeTypeFlashCall", null],
    ];
    for (const [type, next] of chain) {
        const name = `auth.resendCode -> ${type.replace("auth.sentCodeType", "")}`;
        r = await step(name, () => client.call(resendCode(phone, hash)));
        sc = expectValue(name, r);
        checkSentCode(name, sc, type, next);
        hash = (sc && sc.phoneCodeHash) || hash;
    }
    r = await step("auth.resendCode -> unavailable", () => client.call(resendCode(phone, hash)));
    expectError("auth.resendCode -> unavailable", r, 406, "SEND_CODE_UNAVAILABLE");

    // The errors of auth.resendCode and auth.sendCode.
    r = await step("auth.resendCode empty hash", () => client.call(resendCode(phone, "")));
    expectError("auth.resendCode empty hash", r, 400, "PHONE_CODE_HASH_EMPTY");
    r = await step("auth.resendCode unknown hash", () => client.call(resendCode(phone, "0badc0de0badc0de")));
    expectError("auth.resendCode unknown hash", r, 400, "PHONE_CODE_EXPIRED");
    r = await step("auth.resendCode bad number", () => client.call(resendCode("12ab", hash)));
    expectError("auth.resendCode bad number", r, 400, "PHONE_NUMBER_INVALID");
    r = await step("auth.sendCode bad number", () => client.call(sendCode("12ab")));
    expectError("auth.sendCode bad number", r, 400, "PHONE_NUMBER_INVALID");
    r = await step("auth.sendCode other DC", () => callRaw(client, sendCode(testPhone(other))));
    expectError("auth.sendCode other DC", r, 303, `PHONE_MIGRATE_${other}`);

    // auth.signIn: a wrong code, then the test code (the DC id five times).
    const phone2 = testPhone(dc);
    r = await step("auth.sendCode (sign in)", () => client.call(sendCode(phone2)));
    sc = expectValue("auth.sendCode (sign in)", r);
    const hash2 = sc && sc.phoneCodeHash;
    const wrong = String((dc % 9) + 1).repeat(5);
    r = await step("auth.signIn wrong code", () => client.call(signIn(phone2, hash2, wrong)));
    expectError("auth.signIn wrong code", r, 400, "PHONE_CODE_INVALID");
    r = await step("auth.signIn", () => client.call(signIn(phone2, hash2, String(dc).repeat(5))));
    const auth = expectValue("auth.signIn", r);
    if (auth) {
        check("auth.signIn", auth.user && auth.user._ === "user" && auth.user.self === true, `user ${auth.user && auth.user._}`);
        check("auth.signIn", auth.user && auth.user.phone === phone2, `phone ${auth.user && auth.user.phone}`);
        result.user_id = auth.user && auth.user.id !== undefined ? String(auth.user.id) : null;
    }
    r = await step("updates.getState", () => client.call({ _: "updates.getState" }));
    const st = expectValue("updates.getState", r);
    if (st) {
        // the server's clock, which help.getConfig showed (the clock_offset fault moves it)
        check("updates.getState", cfg && Math.abs(st.date - cfg.date) < 60, `date ${st.date}, config said ${cfg && cfg.date}`);
    }

    // A second client follows PHONE_MIGRATE_X by itself (mtcute's network manager): a new auth
    // key on the other DC, found through help.getConfig's dc_options, then the code is sent
    // and accepted there.
    if (args.migrate !== false) {
        const c2 = makeClient(args, args.transport, dc, onError);
        const phone3 = testPhone(other);
        r = await step("auth.sendCode migrated", () => c2.call(sendCode(phone3, withTokens())));
        sc = expectValue("auth.sendCode migrated", r);
        checkSentCode("auth.sendCode migrated", sc, "auth.sentCodeTypeApp", "auth.codeTypeSms");
        const k2 = await authKeyId(c2);
        check("migrate", k2.dc === other, `primary DC ${k2.dc}, want ${other}`);
        if (sc) {
            r = await step("auth.signIn migrated", () => c2.call(signIn(phone3, sc.phoneCodeHash, String(other).repeat(5))));
            expectValue("auth.signIn migrated", r);
        }
        result.migrated_auth_key_id = k2.id;
        check("migrate", k2.id && k2.id !== result.auth_key_id, "the other DC did not get its own auth key");
        await c2.destroy();
    }

    await client.destroy();
}

Promise.all(walks.map((w) => walk(w).then(() => { w.done = true; }, (e) => {
    w.result.failures.push(`crash: ${(e && e.stack) || e}`);
}))).then(() => emit(walks.every((w) => w.done) ? 0 : 2));
