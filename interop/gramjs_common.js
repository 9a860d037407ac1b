"use strict";
// What every GramJS script here needs to talk to the local test DC (mtproto-testdc):
//   - the test DC's RSA key injected into GramJS's key table (the server is not weakened),
//   - connection classes for every transport, pointed at the test DC's ports by DC id
//     (GramJS's Node TCP connections ignore the port kept in the session),
//   - intermediate and padded intermediate codecs, which GramJS does not ship,
//   - rpc_error objects that keep the server's own code and message.
// GramJS shares no code with lua-mtproto: agreeing with it checks the protocol, not ourselves.

const crypto = require("crypto");
const bigInt = require("big-integer");
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { Logger, LogLevel } = require("telegram/extensions/Logger");
const RSA = require("telegram/crypto/RSA");
const { AuthKey } = require("telegram/crypto/AuthKey");
const errors = require("telegram/errors");
const { Connection, PacketCodec } = require("telegram/network/connection/Connection");
const { ConnectionTCPFull } = require("telegram/network/connection/TCPFull");
const { ConnectionTCPAbridged } = require("telegram/network/connection/TCPAbridged");
const { ConnectionTCPObfuscated } = require("telegram/network/connection/TCPObfuscated");

// --- RSA key --------------------------------------------------------------------------

// TL `bytes`/`string` serialisation (1-byte or 0xfe + 3-byte length, padded to 4).
function tlBytes(b) {
    const head = b.length < 254
        ? Buffer.from([b.length])
        : Buffer.from([254, b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255]);
    const pad = (4 - ((head.length + b.length) % 4)) % 4;
    return Buffer.concat([head, b, Buffer.alloc(pad)]);
}

// n and e (big-endian, no sign byte) of a PKCS#1 or SPKI PEM public key.
function rsaFromPem(pem) {
    const jwk = crypto.createPublicKey(pem).export({ format: "jwk" });
    return { n: Buffer.from(jwk.n, "base64url"), e: Buffer.from(jwk.e, "base64url") };
}

// Telegram's key fingerprint: the last 8 bytes of SHA1(rsa_public_key n:bytes e:bytes),
// read as a little-endian signed 64-bit integer, as a decimal string.
function rsaFingerprint(n, e) {
    const digest = crypto.createHash("sha1").update(Buffer.concat([tlBytes(n), tlBytes(e)])).digest();
    return digest.readBigInt64LE(12).toString();
}

// Replaces GramJS's built-in Telegram keys with the test DC's key, after checking that the
// fingerprint the server printed is the one computed here from its PEM.
function injectServerKey(pem, fingerprint) {
    const { n, e } = rsaFromPem(pem);
    const fp = rsaFingerprint(n, e);
    if (fingerprint !== undefined && String(fingerprint) !== fp) {
        throw new Error(`fingerprint mismatch: server says ${fingerprint}, PEM gives ${fp}`);
    }
    RSA._serverKeys.clear();
    RSA._serverKeys.set(fp, { n: bigInt(n.toString("hex"), 16), e: parseInt(e.toString("hex"), 16) });
    return fp;
}

// --- transports ------------------------------------------------------------------------

// GramJS hands codecs either its socket (readExactly) or the obfuscation layer (read is exact).
function readExactly(reader, n) {
    return reader.readExactly ? reader.readExactly(n) : reader.read(n);
}

// Intermediate:  tag ee ee ee ee, then per packet  [len:int32 LE][payload: len bytes]
class IntermediatePacketCodec extends PacketCodec {
    constructor(conn) {
        super(conn);
        this.tag = IntermediatePacketCodec.tag;
        this.obfuscateTag = IntermediatePacketCodec.obfuscateTag;
    }
    encodePacket(data) {
        const head = Buffer.alloc(4);
        head.writeInt32LE(data.length, 0);
        return Buffer.concat([head, data]);
    }
    async readPacket(reader) {
        const len = (await readExactly(reader, 4)).readInt32LE(0);
        if (len < 4 || len > 16 * 1024 * 1024) {
            throw new Error(`intermediate: bad packet length ${len}`);
        }
        return readExactly(reader, len);
    }
}
IntermediatePacketCodec.tag = Buffer.from("eeeeeeee", "hex");
IntermediatePacketCodec.obfuscateTag = IntermediatePacketCodec.tag;

// Padded intermediate: tag dd dd dd dd, then  [len:int32 LE][payload][0..15 random bytes]
// The receiver recovers the payload length from the MTProto message itself: a plain message
// says its length at offset 16, an encrypted one is 24 bytes of header + whole AES blocks.
class PaddedPacketCodec extends IntermediatePacketCodec {
    constructor(conn) {
        super(conn);
        this.tag = PaddedPacketCodec.tag;
        this.obfuscateTag = PaddedPacketCodec.obfuscateTag;
    }
    encodePacket(data) {
        const pad = crypto.randomBytes(crypto.randomInt(16));
        const head = Buffer.alloc(4);
        head.writeInt32LE(data.length + pad.length, 0);
        return Buffer.concat([head, data, pad]);
    }
    async readPacket(reader) {
        const body = await super.readPacket(reader);
        if (body.length < 24) {
            return body; // a transport error (-404...) or garbage: GramJS reports it
        }
        if (body.readBigUInt64LE(0) === 0n) {
            const n = 20 + body.readInt32LE(16);
            if (n < 20 || n > body.length || body.length - n > 15) {
                throw new Error(`padded: bad plain message length ${n} in ${body.length} bytes`);
            }
            return body.subarray(0, n);
        }
        return body.subarray(0, 24 + Math.floor((body.length - 24) / 16) * 16);
    }
}
PaddedPacketCodec.tag = Buffer.from("dddddddd", "hex");
PaddedPacketCodec.obfuscateTag = PaddedPacketCodec.tag;

class ConnectionTCPIntermediate extends Connection {
    constructor(opts) {
        super(opts);
        this.PacketCodecClass = IntermediatePacketCodec;
    }
}
class ConnectionTCPPadded extends Connection {
    constructor(opts) {
        super(opts);
        this.PacketCodecClass = PaddedPacketCodec;
    }
}
// Obfuscated2 around the intermediate codecs (the obfuscation header carries the codec's tag).
class ConnectionTCPObfuscatedIntermediate extends ConnectionTCPObfuscated {
    constructor(opts) {
        super(opts);
        this.PacketCodecClass = IntermediatePacketCodec;
    }
}
class ConnectionTCPObfuscatedPadded extends ConnectionTCPObfuscated {
    constructor(opts) {
        super(opts);
        this.PacketCodecClass = PaddedPacketCodec;
    }
}

const TRANSPORTS = {
    full: ConnectionTCPFull,
    abridged: ConnectionTCPAbridged,
    obfuscated: ConnectionTCPObfuscated,
    intermediate: ConnectionTCPIntermediate,
    padded: ConnectionTCPPadded,
    "obfuscated-intermediate": ConnectionTCPObfuscatedIntermediate,
    "obfuscated-padded": ConnectionTCPObfuscatedPadded,
};

// A connection class for `transport` that connects DC n to ports[n], whatever port GramJS passes
// (always 80 or 443 on Node). The address stays GramJS's: the session's, then after a
// PHONE_MIGRATE_X the one help.getConfig's dc_options gave.
function connectionFor(transport, host, ports) {
    const Base = TRANSPORTS[transport];
    if (!Base) {
        throw new Error(`unknown transport "${transport}" (have: ${Object.keys(TRANSPORTS).join(", ")})`);
    }
    return class extends Base {
        constructor(opts) {
            super(opts);
            const port = ports[String(opts.dcId)];
            if (!port) {
                throw new Error(`no port for DC ${opts.dcId}`);
            }
            this._ip = opts.ip || host;
            this._port = Number(port);
        }
    };
}

// --- errors ------------------------------------------------------------------------------

// GramJS turns some rpc_errors into classes that drop the server's text (PHONE_MIGRATE_1 becomes
// PhoneMigrateError{newDc=1}); keep the server's code and message on every error object.
const origToError = errors.RPCMessageToError;
errors.RPCMessageToError = function (rpcError, request) {
    const err = origToError(rpcError, request);
    err.rpc = { code: rpcError.errorCode, message: rpcError.errorMessage };
    return err;
};

// { code, message } of a failed call: the server's for an rpc_error, else code 0.
function describeError(e) {
    if (e && e.rpc) {
        return { code: e.rpc.code, message: e.rpc.message };
    }
    return { code: 0, message: String((e && e.message) || e) };
}

// --- a GramJS defect ----------------------------------------------------------------------

// GramJS makes the auth key with getByteArray(g_ab): when g_ab has a leading zero byte (1 time
// in 256) its key is 255 bytes long instead of 256, its SHA1 differs from the server's, and
// the handshake ends in "Step 3 invalid new nonce hash". The same happens against Telegram. We
// let GramJS retry the handshake (connectionRetries) but count such failures, and accept a
// failure only when it is exactly this one: the last key GramJS made was shorter than 256.
const lastKey = { length: 0 };
const origSetKey = AuthKey.prototype.setKey;
AuthKey.prototype.setKey = async function (key) {
    if (key) lastKey.length = key.length;
    return origSetKey.call(this, key);
};

// "short_key" when `e` is the defect above, else "other".
function classifyHandshakeError(e) {
    const msg = String((e && e.message) || e);
    return msg.includes("Step 3 invalid new nonce hash") && lastKey.length < 256 ? "short_key" : "other";
}

// --- client ------------------------------------------------------------------------------

const API_ID = 1;
const API_HASH = "0123456789abcdef0123456789abcdef";

// A quiet TelegramClient for DC `dc` of the test DC described by `info` (its start-up JSON:
// host, ports, rsa_public_pem, fingerprint). No retries, no flood sleeping, no reconnects:
// every failure surfaces.
function makeClient(info, transport, dc) {
    injectServerKey(info.rsa_public_pem, info.fingerprint);
    const session = new StringSession("");
    session.setDC(dc, info.host, Number(info.ports[String(dc)]));
    const client = new TelegramClient(session, API_ID, API_HASH, {
        connection: connectionFor(transport, info.host, info.ports),
        baseLogger: new Logger(LogLevel.NONE),
        connectionRetries: 3, // see classifyHandshakeError
        requestRetries: 2, // the second try follows a PHONE_MIGRATE_X
        retryDelay: 0,
        autoReconnect: false,
        floodSleepThreshold: 0,
        timeout: 10,
        deviceModel: "gramjs-interop",
        systemVersion: process.version,
        appVersion: "1.0",
    });
    client.setLogLevel(LogLevel.NONE);
    return client;
}

module.exports = {
    Api,
    TRANSPORTS,
    API_ID,
    API_HASH,
    tlBytes,
    rsaFromPem,
    rsaFingerprint,
    injectServerKey,
    connectionFor,
    describeError,
    classifyHandshakeError,
    makeClient,
    IntermediatePacketCodec,
    PaddedPacketCodec,
};
