#!/usr/bin/env node
"use strict";
// GramJS's QR login (client.signInUserWithQrCode) against the local test DC.
//
//   node interop/gramjs_qr.js '<json>'    or    node interop/gramjs_qr.js @file.json
//
// <json> is the test DC's start-up line (host, ports, rsa_public_pem, fingerprint) plus
//   scenario   "accept": a second GramJS client, signed in on the same DC with a code, accepts
//              the token (auth.acceptLoginToken); the exporting client gets updateLoginToken,
//              exports again and gets loginTokenSuccess.
//              "auto": the test DC was started with --qr-auto-accept <auto_phone> (an account of
//              another DC): updateLoginToken, then loginTokenMigrateTo, GramJS moves to that DC
//              and finishes with auth.importLoginToken.
//   dc         the DC the QR client starts on (default 2)
//   auto_phone the --qr-auto-accept number ("auto")
//   transport  default "padded"
// Prints ONE JSON line {ok, scenario, user_id, expected_user_id, dc_after, tokens, failures};
// exit status 0 when every check passed.

const { Api, API_ID, API_HASH, makeClient, describeError } = require("./gramjs_common");

const fs = require("fs");
const raw = process.argv[2] || "{}";
const args = JSON.parse(raw.startsWith("@") ? fs.readFileSync(raw.slice(1), "utf8") : raw);
const dc = Number(args.dc || 2);
const transport = args.transport || "padded";
const result = { ok: false, scenario: args.scenario, dc, checks: 0, failures: [], tokens: 0 };

function emit(code) {
    result.ok = code === 0 && result.failures.length === 0;
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : code || 1));
}

setTimeout(() => {
    result.failures.push(`watchdog: no end after ${args.timeout_ms || 30000} ms`);
    emit(3);
}, Number(args.timeout_ms || 30000));

function check(what, cond) {
    result.checks++;
    if (!cond) {
        result.failures.push(what);
    }
}

// The user id of a test number (the test DC's rule: the number modulo 10^12, plus one).
const userIdOf = (phone) => String(BigInt(phone) % 1000000000000n + 1n);

// A GramJS client signed in with the code on DC x (the accepting device).
async function signedIn(x) {
    const c = makeClient(args, transport, x);
    await c.connect();
    const phone = `99966${x}1${String(Math.floor(Math.random() * 1000)).padStart(3, "0")}`;
    const sc = await c.invoke(new Api.auth.SendCode({
        phoneNumber: phone, apiId: API_ID, apiHash: API_HASH, settings: new Api.CodeSettings({}) }));
    const a = await c.invoke(new Api.auth.SignIn({
        phoneNumber: phone, phoneCodeHash: sc.phoneCodeHash, phoneCode: String(x).repeat(5) }));
    check(`accepting client signed in (${a.className})`, a.className === "auth.Authorization");
    return { client: c, phone };
}

async function main() {
    let accepter = null;
    if (args.scenario === "accept") {
        accepter = await signedIn(dc);
        result.expected_user_id = userIdOf(accepter.phone);
    } else {
        result.expected_user_id = userIdOf(args.auto_phone);
    }
    const client = makeClient(args, transport, dc);
    await client.connect();
    const user = await client.signInUserWithQrCode({ apiId: API_ID, apiHash: API_HASH }, {
        qrCode: async ({ token, expires }) => {
            result.tokens++;
            check(`token of 32 bytes (got ${token && token.length})`, token && token.length === 32);
            check("expires in the future", expires > Date.now() / 1000);
            if (accepter) {
                const r = await accepter.client.invoke(new Api.auth.AcceptLoginToken({ token }));
                check(`acceptLoginToken answered ${r.className}`, r.className === "Authorization");
                try {
                    await accepter.client.invoke(new Api.auth.AcceptLoginToken({ token }));
                    check("a second acceptLoginToken fails", false);
                } catch (e) {
                    const d = describeError(e);
                    check(`second accept: ${d.code} ${d.message}`, d.message === "AUTH_TOKEN_ALREADY_ACCEPTED");
                }
            }
        },
        onError: async (e) => {
            result.failures.push(`onError: ${JSON.stringify(describeError(e))}`);
            return true;
        },
    });
    result.user_id = user && user.id ? user.id.toString() : null;
    result.dc_after = client.session.dcId;
    check(`signed in as ${result.user_id}, want ${result.expected_user_id}`, result.user_id === result.expected_user_id);
    check("qrCode called once", result.tokens === 1);
    // the new authorization works: the test DC now says the key is signed in
    const out = await client.invoke(new Api.auth.LogOut());
    check(`auth.logOut answered ${out.className}`, out.className === "auth.LoggedOut");
    if (accepter) await accepter.client.destroy();
    await client.destroy();
}

main().then(() => emit(0), (e) => {
    result.failures.push(`crash: ${(e && e.stack) || e}`);
    emit(2);
});
