#!/usr/bin/env node
"use strict";
// GramJS's side of the codec and AES-256-IGE rows of `make bench` (bench/run.lua runs this
// several times and takes medians). Prints `name value` lines, the same names as bench/tl.lua
// and bench/crypto.lua use for our side:
//   tl.encode_resendCode  ops/s   Api.auth.ResendCode#getBytes (what GramJS does to send one)
//   tl.decode_sentCode    ops/s   BinaryReader#tgReadObject on an auth.sentCode answer
//   ige.gramjs_1k         MB/s    telegram/crypto/IGE encryptIge, 1 KiB messages (1 MB = 1e6 bytes)
//   ige.gramjs_512k       MB/s    the same, 512 KiB messages
//   crypto.small_msg_pair_us  us  MTProtoState encryptMessageData + decryptMessageData, small
//   srp.gramjs_check_password_ms  ms of CPU for one telegram/Password computeCheck (two-step
//                         verification, the known prime), median of 7
// Before timing, it checks its bytes against the golden vectors of TELEGRAM.md.
const path = require("path");
const crypto = require("crypto");
const modules = path.join(__dirname, "..", "interop", "node_modules");
const req = (m) => require(path.join(modules, m));
const { Api } = req("telegram");
const { BinaryReader } = req("telegram/extensions/BinaryReader");
const { IGE } = req("telegram/crypto/IGE");
const bigInt = req("big-integer");

const SECONDS = Number(process.env.BENCH_SECONDS || 0.2);

// Best of 5 rounds of about SECONDS each, calling fn(batch) repeatedly (bench/tl.lua and
// bench/crypto.lua take the best of 5 too); returns calls per second.
function rate(fn, batch) {
    for (let i = 0; i < 3; i++) fn(batch); // warm up the JIT
    let best = 0;
    for (let round = 0; round < 5; round++) {
        let n = 0;
        const t0 = process.hrtime.bigint();
        let dt = 0;
        do {
            fn(batch);
            n += batch;
            dt = Number(process.hrtime.bigint() - t0) / 1e9;
        } while (dt < SECONDS);
        best = Math.max(best, n / dt);
    }
    return best;
}

function assertHex(what, buf, hex) {
    const got = Buffer.from(buf).toString("hex");
    if (got !== hex.replace(/\s+/g, "")) {
        throw new Error(`${what}: got ${got}`);
    }
}

// --- TL codec -------------------------------------------------------------------------------
const resend = new Api.auth.ResendCode({ phoneNumber: "15550001111", phoneCodeHash: "9d5d6b5e3a1c2f4e80" });
assertHex("auth.resendCode", resend.getBytes(),
    "2375e4ca000000000b31353535303030313131311239643564366235653361316332663465383000");
const sentCode = Buffer.from(
    "022500 5e 06000000 a2bb00c0 05000000 1239643564366235653361316332663465383000 e3d31c74 78000000".replace(/ /g, ""),
    "hex");
{
    const o = new BinaryReader(sentCode).tgReadObject();
    if (o.className !== "auth.SentCode" || o.type.className !== "auth.SentCodeTypeSms" || o.type.length !== 5
        || o.phoneCodeHash !== "9d5d6b5e3a1c2f4e80" || o.nextType.className !== "auth.CodeTypeCall" || o.timeout !== 120) {
        throw new Error("auth.sentCode decoded wrong");
    }
}
let sink = 0;
const enc = rate((k) => {
    for (let i = 0; i < k; i++) sink += resend.getBytes().length;
}, 1000);
const dec = rate((k) => {
    for (let i = 0; i < k; i++) sink += new BinaryReader(sentCode).tgReadObject().timeout;
}, 1000);
console.log(`tl.encode_resendCode ${enc.toFixed(0)}`);
console.log(`tl.decode_sentCode ${dec.toFixed(0)}`);

// --- AES-256-IGE ----------------------------------------------------------------------------
// Cross-check GramJS's IGE against one built here from OpenSSL's AES-256-ECB (node:crypto).
function igeRef(key, iv, data) {
    const ecb = crypto.createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
    let x = iv.subarray(0, 16), y = iv.subarray(16, 32);
    const out = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i += 16) {
        const p = data.subarray(i, i + 16);
        const t = Buffer.alloc(16);
        for (let j = 0; j < 16; j++) t[j] = p[j] ^ x[j];
        const c = ecb.update(t);
        for (let j = 0; j < 16; j++) c[j] ^= y[j];
        c.copy(out, i);
        x = out.subarray(i, i + 16);
        y = p;
    }
    return out;
}
const key = crypto.randomBytes(32), iv = crypto.randomBytes(32);
{
    const data = crypto.randomBytes(1024);
    if (!Buffer.from(new IGE(key, iv).encryptIge(data)).equals(igeRef(key, iv, data))) {
        throw new Error("GramJS IGE disagrees with AES-256-ECB + IGE chaining");
    }
}
for (const [name, size] of [["1k", 1024], ["512k", 512 * 1024]]) {
    const data = crypto.randomBytes(size);
    const ops = rate((k) => {
        for (let i = 0; i < k; i++) sink += new IGE(key, iv).encryptIge(data).length;
    }, size > 4096 ? 1 : 64);
    console.log(`ige.gramjs_${name} ${(ops * size / 1e6).toFixed(2)}`);
}
if (sink === 42) console.log("");

// --- MTProto 2.0 message crypto per small call ----------------------------------------------
// What GramJS's MTProtoState does per call: encryptMessageData of one 80-byte message (16-byte
// header + 64-byte body) and decryptMessageData of one server message with a 64-byte body
// (boolTrue + filler, so that its TL read is trivial). Compare bench/callpath.c's
// callpath.client_crypto_us_per_small_msg_pair. The server messages are made beforehand (with
// x = 8, as a server would), each with its own msg_id (GramJS rejects duplicates).
const { MTProtoState } = req("telegram/network/MTProtoState");
const { AuthKey } = req("telegram/crypto/AuthKey");
const { Logger } = req("telegram/extensions/Logger");
(async () => {
    const authKey = new AuthKey();
    await authKey.setKey(crypto.randomBytes(256));
    const key = authKey.getKey();
    const state = new MTProtoState(authKey, new Logger("none"));
    state.salt = bigInt(12345);
    const toLE = (b) => { const x = Buffer.alloc(8); x.writeBigInt64LE(BigInt.asIntN(64, BigInt(b.toString()))); return x; };
    const body = Buffer.concat([Buffer.from("b5757299", "hex"), crypto.randomBytes(60)]); // boolTrue
    const NMSG = 2000;
    const msgs = [];
    const base = BigInt(Math.floor(Date.now() / 1000)) << 32n;
    for (let i = 0; i < NMSG; i++) {
        const head = Buffer.alloc(16);
        head.writeBigInt64LE(base + BigInt(i * 4 + 1), 0);
        head.writeInt32LE(2 * i + 1, 8);
        head.writeInt32LE(body.length, 12);
        const plain0 = Buffer.concat([toLE(state.salt), toLE(state.id), head, body]);
        const pad = crypto.randomBytes(((16 - ((plain0.length + 12) % 16)) % 16) + 12);
        const plain = Buffer.concat([plain0, pad]);
        const msgKey = crypto.createHash("sha256").update(Buffer.concat([key.subarray(96, 128), plain])).digest().subarray(8, 24);
        const { key: k, iv } = await state._calcKey(key, msgKey, false);
        msgs.push(Buffer.concat([toLE(authKey.keyId), msgKey, Buffer.from(new IGE(k, iv).encryptIge(plain))]));
    }
    const out = Buffer.concat([Buffer.alloc(16), body]);
    {
        const m = await state.decryptMessageData(msgs[0]);
        if (m.obj !== true) throw new Error("decryptMessageData did not read boolTrue");
    }
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
        state.msgIds = [];
        const t0 = process.hrtime.bigint();
        for (let i = 1; i < NMSG; i++) {
            sink += (await state.encryptMessageData(out)).length;
            sink += (await state.decryptMessageData(msgs[i])).seqNo;
        }
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / (NMSG - 1));
    }
    console.log(`crypto.small_msg_pair_us ${best.toFixed(3)}`);

    // --- two-step verification: computeCheck's CPU time (its PBKDF2 is node:crypto's) -----
    const { computeCheck } = req("telegram/Password");
    const P = Buffer.from(
        "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db"
        + "fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64"
        + "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41"
        + "0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4"
        + "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf"
        + "6f4fadf034b10403119cd8e3b92fcc5b", "hex");
    // srp_B of gotd/td's TestSRP vector: a valid B for this prime
    const B = Buffer.from(
        "9C52401A6A8084EC82F01C3725D3FB448BD2F0C909F9D97726EAC4B7A74172D952F02466BE6734FA274D2B7429E27397"
        + "F10372D66B400B80A5C5AE3F28B17BF3105D7A2D2A885998CDC2DEFC208AEC217AB58859A9ABC2374AD93DC285F4B3FB"
        + "CAFF4143D7888F2425BD2FB711B25609CEB21757D935B1EF2F042173AD0CE2FE0E474DAC53914BD25A8A9AED4AEA8953"
        + "D55CB88621DB37B871EA0D04393AC0987F68094CCC9DE8239251375D8FFFD263316CD528C097B7BC9FB919FBEDB76C52"
        + "5DF3413C374EE076D97A1E6D352BB7CC80FD13651B04B32E2E48C5268150842CFD07CF855958B1B5EA9C36FDAD697FE3"
        + "AEC8DCC6B1EFEC36874AF226204676CF", "hex");
    const algo = new Api.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow({
        salt1: crypto.randomBytes(40), salt2: crypto.randomBytes(16), g: 3, p: P });
    const times = [];
    for (let i = 0; i < 7; i++) {
        const pw = new Api.account.Password({ hasPassword: true, currentAlgo: algo, srp_B: B, srpId: bigInt(i + 1),
            newAlgo: algo, newSecureAlgo: new Api.SecurePasswordKdfAlgoUnknown(), secureRandom: Buffer.alloc(0) });
        const c0 = process.cpuUsage();
        const check = await computeCheck(pw, "bench password");
        const c = process.cpuUsage(c0);
        if (check.A.length !== 256 || check.M1.length !== 32) throw new Error("computeCheck: bad A or M1");
        times.push((c.user + c.system) / 1000);
    }
    times.sort((a, b) => a - b);
    console.log(`srp.gramjs_check_password_ms ${times[3].toFixed(2)}`);
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
