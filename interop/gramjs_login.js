#!/usr/bin/env node
"use strict";
// GramJS logs in against the local test DC over one transport and checks every answer.
//
//   node interop/gramjs_login.js '<json>'    or    node interop/gramjs_login.js @file.json
//
// <json> is the test DC's start-up line (host, ports, rsa_public_pem, fingerprint) plus
//   transport  full|abridged|obfuscated|intermediate|padded|obfuscated-intermediate|obfuscated-padded
//   dc         home DC (default 2)
//   migrate    also follow a PHONE_MIGRATE_X to the other DC and sign in there (default true)
//   scenario   "login" (default): everything below; "flood": against a test DC started with
//              `--flood 1`, auth.sendCode then two auth.resendCode in a row, the second of which
//              must be 420 FLOOD_WAIT_1; "password": two-step verification with GramJS's own SRP
//              (computeCheck, signInWithPassword) on the password account 99966X2YYY
//   timeout_ms watchdog for the whole run (default 30000)
// Prints ONE JSON line {ok, transport, dc, auth_key_id, checks, failures, ...}; exit status 0 when
// every check passed, 1 on a mismatch, 2 on a crash, 3 on the watchdog.

const { Api, API_ID, API_HASH, makeClient, describeError, classifyHandshakeError } = require("./gramjs_common");
const { checker } = require("./walk_checks");
const { computeCheck } = require("telegram/Password");

const fs = require("fs");
const raw = process.argv[2] || "{}";
const args = JSON.parse(raw.startsWith("@") ? fs.readFileSync(raw.slice(1), "utf8") : raw);
const dc = Number(args.dc || 2);
const result = { ok: false, transport: args.transport, dc, checks: 0, failures: [], steps: [] };

function emit(code) {
    result.ok = code === 0 && result.failures.length === 0;
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : code || 1));
}

setTimeout(() => {
    result.failures.push(`watchdog: no end after ${args.timeout_ms || 30000} ms (last step: ${
        result.steps.length ? result.steps[result.steps.length - 1].step : "connect"})`);
    emit(3);
}, Number(args.timeout_ms || 30000));

const { check, step, expectError, expectValue, checkSentCode: checkSent } = checker(result, {
    nameOf: (r) => r.className,
    describeError,
});

// One auth.SentCode (GramJS's class names): its type (and length/pattern), next_type and timeout.
function checkSentCode(name, sc, type, nextType) {
    checkSent(name, sc && {
        name: sc.className, type: sc.type && sc.type.className, length: sc.type && sc.type.length,
        pattern: sc.type && sc.type.pattern, hash: sc.phoneCodeHash,
        nextType: sc.nextType && sc.nextType.className, timeout: sc.timeout,
    }, "auth.SentCode", type, nextType);
}

// auth.resendCode#3ef1a9bf phone_number:string phone_code_hash:string (layers before the
// `reason` flag): GramJS 2.26 speaks #cae47523, the test DC must accept both. Same fields,
// so the bytes are GramJS's own with the old id and without the (zero) flags word.
class OldResendCode extends Api.auth.ResendCode {
    getBytes() {
        const b = super.getBytes();
        if (b.readUInt32LE(0) !== 0xcae47523 || b.readUInt32LE(4) !== 0) {
            throw new Error("unexpected auth.resendCode bytes from GramJS");
        }
        const id = Buffer.alloc(4);
        id.writeUInt32LE(0x3ef1a9bf, 0);
        return Buffer.concat([id, b.subarray(8)]);
    }
}

const rand3 = () => String(Math.floor(Math.random() * 1000)).padStart(3, "0");
// 99966X1YYY: an ordinary test number of DC X (the 7th digit picks the login path; 1 is the plain one)
const testPhone = (x) => `99966${x}1${rand3()}`;
const sendCode = (phone) => new Api.auth.SendCode({
    phoneNumber: phone, apiId: API_ID, apiHash: API_HASH, settings: new Api.CodeSettings({}),
});

// One auth.resendCode per hash per second (`--flood 1`): the second of two calls in a row is
// too fast. (GramJS loses the rest of a container after an rpc_error in it, so no bursts.)
async function flood(client) {
    const phone = testPhone(dc);
    let r = await step("auth.sendCode", () => client.invoke(sendCode(phone)));
    const sc = expectValue("auth.sendCode", r);
    checkSentCode("auth.sendCode", sc, "auth.SentCodeTypeApp", "auth.CodeTypeSms");
    const resend = () => client.invoke(new Api.auth.ResendCode({ phoneNumber: phone, phoneCodeHash: sc && sc.phoneCodeHash }));
    r = await step("auth.resendCode -> Sms", resend);
    checkSentCode("auth.resendCode -> Sms", expectValue("auth.resendCode -> Sms", r), "auth.SentCodeTypeSms", "auth.CodeTypeCall");
    r = await step("auth.resendCode too fast", resend);
    expectError("auth.resendCode too fast", r, 420, "FLOOD_WAIT_1");
}

// Two-step verification with GramJS's own SRP (telegram/Password computeCheck, the code behind
// its signInWithPassword / client.start({ password })) against the test DC's password account
// 99966X2YYY (password "testpass"), which checks M1 on the server side.
async function password(client) {
    const phone = `99966${dc}2${rand3()}`;
    let r = await step("auth.sendCode (password account)", () => client.invoke(sendCode(phone)));
    const sc = expectValue("auth.sendCode (password account)", r);
    r = await step("auth.signIn (password account)", () => client.invoke(new Api.auth.SignIn({
        phoneNumber: phone, phoneCodeHash: sc && sc.phoneCodeHash, phoneCode: String(dc).repeat(5) })));
    expectError("auth.signIn (password account)", r, 401, "SESSION_PASSWORD_NEEDED");
    r = await step("account.getPassword", () => client.invoke(new Api.account.GetPassword()));
    const pw = expectValue("account.getPassword", r);
    if (pw) {
        check("account.getPassword", pw.hasPassword === true && pw.hasRecovery === true, "has_password/has_recovery");
        check("account.getPassword", pw.hint === "testpass", `hint ${pw.hint}`);
        check("account.getPassword", pw.currentAlgo && pw.currentAlgo.className
            === "PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow", "current_algo");
    }
    r = await step("auth.checkPassword wrong password",
        async () => client.invoke(new Api.auth.CheckPassword({ password: await computeCheck(pw, "wrong") })));
    expectError("auth.checkPassword wrong password", r, 400, "PASSWORD_HASH_INVALID");
    r = await step("auth.checkPassword used srp_id",
        async () => client.invoke(new Api.auth.CheckPassword({ password: await computeCheck(pw, "testpass") })));
    expectError("auth.checkPassword used srp_id", r, 400, "SRP_ID_INVALID");
    // GramJS's whole password step: a fresh account.getPassword, computeCheck, auth.checkPassword
    r = await step("signInWithPassword", async () => {
        const user = await client.signInWithPassword({ apiId: API_ID, apiHash: API_HASH },
            { password: async () => "testpass", onError: async (e) => { throw e; } });
        return user;
    });
    const user = expectValue("signInWithPassword", r);
    check("signInWithPassword", user && user.phone === phone, `user ${user && user.phone}`);
}

async function main() {
    const client = makeClient(args, args.transport, dc);
    // GramJS swallows connection errors (it logs them, and we silence its log): keep them. Only
    // its own short-auth-key defect (see gramjs_common.js) may be retried; anything else fails.
    result.gramjs_short_key_retries = 0;
    const keepErrors = (c) => {
        c.onError = async (e) => {
            if (classifyHandshakeError(e) === "short_key") {
                result.gramjs_short_key_retries++;
                return;
            }
            result.failures.push("client error: " + String((e && e.stack) || e).split("\n").slice(0, 4).join(" | "));
        };
    };
    keepErrors(client);
    if (process.env.GRAMJS_DEBUG) client.setLogLevel("debug");
    const other = dc === 1 ? 2 : 1;

    // Handshake (req_pq_multi, req_DH_params, set_client_DH_params) and the first call, which
    // GramJS wraps as invokeWithLayer(initConnection(help.getConfig)).
    const t0 = process.hrtime.bigint();
    const connected = await client.connect();
    result.connect_ms = Number(process.hrtime.bigint() - t0) / 1e6;
    check("connect", connected === true, "client.connect() did not succeed");
    const key = client._sender && client._sender.authKey;
    result.auth_key_id = key && key.keyId ? key.keyId.toString() : null;
    check("connect", result.auth_key_id !== null, "no auth key after connect");

    let r = await step("help.getConfig", () => client.invoke(new Api.help.GetConfig()));
    const cfg = expectValue("help.getConfig", r);
    if (cfg) {
        check("help.getConfig", cfg.thisDc === dc, `this_dc ${cfg.thisDc}`);
        for (const [id, port] of Object.entries(args.ports || {})) {
            check("help.getConfig", cfg.dcOptions.some((o) => o.id === Number(id) && o.port === Number(port)),
                `no dc_option for DC ${id} port ${port}`);
        }
    }
    if (args.scenario === "flood" || args.scenario === "password") {
        await (args.scenario === "flood" ? flood : password)(client);
        await client.destroy();
        return;
    }

    r = await step("help.getNearestDc", () => client.invoke(new Api.help.GetNearestDc()));
    const near = expectValue("help.getNearestDc", r);
    if (near) {
        check("help.getNearestDc", near.thisDc === dc, `this_dc ${near.thisDc}`);
    }

    // auth.sendCode, then auth.resendCode through every type until SEND_CODE_UNAVAILABLE.
    const phone = testPhone(dc);
    r = await step("auth.sendCode", () => client.invoke(sendCode(phone)));
    let sc = expectValue("auth.sendCode", r);
    checkSentCode("auth.sendCode", sc, "auth.SentCodeTypeApp", "auth.CodeTypeSms");
    let hash = sc && sc.phoneCodeHash;
    const chain = [
        ["auth.SentCodeTypeSms", "auth.CodeTypeCall"],
        ["auth.SentCodeTypeCall", "auth.CodeTypeFlashCall"],
        ["auth.SentCodeTypeFlashCall", null],
    ];
    for (const [type, next] of chain) {
        // the step to Call goes with the old constructor id
        const Resend = type === "auth.SentCodeTypeCall" ? OldResendCode : Api.auth.ResendCode;
        const name = `auth.resendCode${Resend === OldResendCode ? "#3ef1a9bf" : ""} -> ${type.replace("auth.SentCodeType", "")}`;
        r = await step(name, () => client.invoke(new Resend({ phoneNumber: phone, phoneCodeHash: hash })));
        sc = expectValue(name, r);
        checkSentCode(name, sc, type, next);
        hash = (sc && sc.phoneCodeHash) || hash;
    }
    r = await step("auth.resendCode -> unavailable",
        () => client.invoke(new Api.auth.ResendCode({ phoneNumber: phone, phoneCodeHash: hash })));
    expectError("auth.resendCode -> unavailable", r, 406, "SEND_CODE_UNAVAILABLE");

    // The errors of auth.resendCode and auth.sendCode.
    r = await step("auth.resendCode empty hash",
        () => client.invoke(new Api.auth.ResendCode({ phoneNumber: phone, phoneCodeHash: "" })));
    expectError("auth.resendCode empty hash", r, 400, "PHONE_CODE_HASH_EMPTY");
    r = await step("auth.resendCode unknown hash",
        () => client.invoke(new Api.auth.ResendCode({ phoneNumber: phone, phoneCodeHash: "0badc0de0badc0de" })));
    expectError("auth.resendCode unknown hash", r, 400, "PHONE_CODE_EXPIRED");
    r = await step("auth.resendCode bad number",
        () => client.invoke(new Api.auth.ResendCode({ phoneNumber: "12ab", phoneCodeHash: hash })));
    expectError("auth.resendCode bad number", r, 400, "PHONE_NUMBER_INVALID");
    r = await step("auth.sendCode bad number", () => client.invoke(sendCode("12ab")));
    expectError("auth.sendCode bad number", r, 400, "PHONE_NUMBER_INVALID");
    // Raw sender: client.invoke would follow the migration by itself.
    r = await step("auth.sendCode other DC", () => client._sender.send(sendCode(testPhone(other))));
    expectError("auth.sendCode other DC", r, 303, `PHONE_MIGRATE_${other}`);

    // auth.signIn: a wrong code, then the test code (the DC id five times).
    const phone2 = testPhone(dc);
    r = await step("auth.sendCode (sign in)", () => client.invoke(sendCode(phone2)));
    sc = expectValue("auth.sendCode (sign in)", r);
    const hash2 = sc && sc.phoneCodeHash;
    const wrong = String((dc % 9) + 1).repeat(5);
    r = await step("auth.signIn wrong code", () => client.invoke(new Api.auth.SignIn({
        phoneNumber: phone2, phoneCodeHash: hash2, phoneCode: wrong })));
    expectError("auth.signIn wrong code", r, 400, "PHONE_CODE_INVALID");
    r = await step("auth.signIn", () => client.invoke(new Api.auth.SignIn({
        phoneNumber: phone2, phoneCodeHash: hash2, phoneCode: String(dc).repeat(5) })));
    const auth = expectValue("auth.signIn", r);
    if (auth) {
        check("auth.signIn", auth.className === "auth.Authorization", `got ${auth.className}`);
        check("auth.signIn", auth.user && auth.user.className === "User", `user ${auth.user && auth.user.className}`);
        result.user_id = auth.user && auth.user.id ? auth.user.id.toString() : null;
    }

    // A second client follows PHONE_MIGRATE_X the way GramJS does by itself: a new auth key on the
    // other DC (found through help.getConfig's dc_options), then the code is sent and accepted there.
    if (args.migrate !== false) {
        const c2 = makeClient(args, args.transport, dc);
        keepErrors(c2);
        if (process.env.GRAMJS_DEBUG) c2.setLogLevel("debug");
        check("migrate", (await c2.connect()) === true, "second client did not connect");
        const phone3 = testPhone(other);
        r = await step("auth.sendCode migrated", () => c2.invoke(sendCode(phone3)));
        sc = expectValue("auth.sendCode migrated", r);
        checkSentCode("auth.sendCode migrated", sc, "auth.SentCodeTypeApp", "auth.CodeTypeSms");
        check("migrate", c2.session.dcId === other, `session on DC ${c2.session.dcId}, want ${other}`);
        if (sc) {
            r = await step("auth.signIn migrated", () => c2.invoke(new Api.auth.SignIn({
                phoneNumber: phone3, phoneCodeHash: sc.phoneCodeHash, phoneCode: String(other).repeat(5) })));
            const a2 = expectValue("auth.signIn migrated", r);
            check("auth.signIn migrated", a2 && a2.className === "auth.Authorization", `got ${a2 && a2.className}`);
        }
        const k2 = c2._sender && c2._sender.authKey;
        result.migrated_auth_key_id = k2 && k2.keyId ? k2.keyId.toString() : null;
        check("migrate", result.migrated_auth_key_id && result.migrated_auth_key_id !== result.auth_key_id,
            "the other DC did not get its own auth key");
        await c2.destroy();
    }

    await client.destroy();
}

main().then(() => emit(0), (e) => {
    result.failures.push(`crash: ${(e && e.stack) || e}`);
    emit(2);
});
