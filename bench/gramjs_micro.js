#!/usr/bin/env node
"use strict";
// GramJS's side of the codec and AES-256-IGE rows of `make bench` (bench/run.lua runs this
// several times and takes medians). Prints `name value` lines, the same names as bench/tl.lua
// and bench/crypto.lua use for our side:
//   tl.encode_resendCode  ops/s   Api.auth.ResendCode#getBytes (what GramJS does to send one)
//   tl.decode_sentCode    ops/s   BinaryReader#tgReadObject on an auth.sentCode answer
//   ige.gramjs_1k         MB/s    telegram/crypto/IGE encryptIge, 1 KiB messages (1 MB = 1e6 bytes)
//   ige.gramjs_512k       MB/s    the same, 512 KiB messages
// Before timing, it checks its bytes against the golden vectors of TELEGRAM.md.
const path = require("path");
const crypto = require("crypto");
const modules = path.join(__dirname, "..", "interop", "node_modules");
const req = (m) => require(path.join(modules, m));
const { Api } = req("telegram");
const { BinaryReader } = req("telegram/extensions/BinaryReader");
const { IGE } = req("telegram/crypto/IGE");

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
