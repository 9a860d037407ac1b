// What every mtcute script here needs to talk to the local test DC (mtproto-testdc):
//   - the test DC's RSA key added to mtcute's key table (the server is not weakened),
//   - a TCP transport per packet codec mtcute ships (intermediate, padded intermediate, and
//     obfuscated2 around either),
//   - the layer-223 TL maps of @mtcute/tl (mtcute 0.30 speaks layer 227; the test DC serves 223),
//   - sessions in memory only (so better-sqlite3, mtcute's native addon, is never loaded).
// mtcute shares no code with lua-mtproto (nor with GramJS): agreeing with it checks the protocol.

import crypto from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
    BaseTelegramClient, TcpTransport, MemoryStorage,
    IntermediatePacketCodec, PaddedIntermediatePacketCodec, ObfuscatedPacketCodec, proxyTransportFromUrl,
} from "@mtcute/node";
import { addPublicKey, parsePublicKey } from "@mtcute/core/utils.js";
import { NodeCryptoProvider } from "@mtcute/node/utils.js";
import { __tlReaderMap } from "@mtcute/tl/binary/reader.js";
import { __tlWriterMap } from "@mtcute/tl/binary/writer.js";

// mtcute's table of RSA keys, by fingerprint (not exported: the module itself, by its file URL,
// which makes it the instance mtcute uses)
const coreDir = path.dirname(createRequire(import.meta.url).resolve("@mtcute/core"));
const { __publicKeyIndex } = await import(pathToFileURL(path.join(coreDir, "tl", "binary", "rsa-keys.js")).href);

export const LAYER = 223;
export const API_ID = 1;
export const API_HASH = "0123456789abcdef0123456789abcdef";

// --- RSA key --------------------------------------------------------------------------

// Adds the test DC's key to mtcute's table after checking that the fingerprint the server
// printed (signed decimal) is the one mtcute computes from the PEM (unsigned hex).
//
// An mtcute defect: it files a key under its fingerprint as 16 hex digits, but looks up the
// server's fingerprints as hex without leading zeros, so a key whose fingerprint starts with a
// 0 nibble (1 key in 16; none of Telegram's) is never found ("Step 2: Could not find server
// public key"). The key is filed under that second spelling too.
export function addServerKey(pem, fingerprint) {
    const provider = new NodeCryptoProvider();
    const parsed = parsePublicKey(provider, pem);
    const fp = BigInt.asIntN(64, BigInt("0x" + parsed.fingerprint)).toString();
    if (fingerprint !== undefined && String(fingerprint) !== fp) {
        throw new Error(`fingerprint mismatch: server says ${fingerprint}, mtcute computes ${fp}`);
    }
    addPublicKey(provider, pem);
    const unpadded = BigInt("0x" + parsed.fingerprint).toString(16);
    if (!__publicKeyIndex[parsed.fingerprint]) {
        throw new Error("mtcute's key table is not where it was: update mtcute_common.mjs");
    }
    __publicKeyIndex[unpadded] = __publicKeyIndex[parsed.fingerprint];
    return fp;
}

// --- transports ------------------------------------------------------------------------

// mtcute's packet codecs (@mtcute/core network/transports): intermediate and padded
// intermediate, each also inside obfuscated2. It has no abridged or full codec.
export const CODECS = {
    intermediate: () => new IntermediatePacketCodec(),
    padded: () => new PaddedIntermediatePacketCodec(),
    "obfuscated-intermediate": () => new ObfuscatedPacketCodec(new IntermediatePacketCodec()),
    "obfuscated-padded": () => new ObfuscatedPacketCodec(new PaddedIntermediatePacketCodec()),
};

// mtcute's own TCP transport with the codec of `name`. The address and port come from mtcute:
// defaultDcs first, then help.getConfig's dc_options (after a PHONE_MIGRATE_X).
export function transportFor(name) {
    const codec = CODECS[name];
    if (!codec) {
        throw new Error(`unknown transport "${name}" (have: ${Object.keys(CODECS).join(", ")})`);
    }
    return new (class extends TcpTransport {
        packetCodec() {
            return codec();
        }
    })();
}

// --- errors ------------------------------------------------------------------------------

// { code, message } of a failed call: the server's for an rpc_error (mtcute's RpcError, or the
// raw mt_rpc_error a connection hands back), else code 0.
export function describeError(e) {
    if (e && e._ === "mt_rpc_error") {
        return { code: e.errorCode, message: e.errorMessage };
    }
    if (e && typeof e.code === "number" && typeof e.text === "string") {
        return { code: e.code, message: e.text };
    }
    return { code: 0, message: String((e && e.message) || e) };
}

// --- an mtcute defect ---------------------------------------------------------------------

// mtcute makes the auth key with bigint.toBytes(g_ab) at its minimal length: when g_ab has a
// leading zero byte (1 handshake in 256) the key is 255 bytes instead of 256, its SHA1 differs
// from the server's and the handshake ends in "Step 4: invalid nonce hash from server" (the
// same happens against Telegram, which counts the key as 256 bytes too). mtcute reconnects and
// tries again. The crypto provider below counts such short keys (the SHA1 mtcute takes of its
// key, inside doAuthorization); a handshake failure is forgiven only when one is unexplained.
// It also counts the requests it sends gzip_packed (deflate in zlib framing), so that a walk
// can show that the test DC inflated some.
let shortKeys = 0;
export const stats = { gzipped: 0 };

class CountingCryptoProvider extends NodeCryptoProvider {
    sha1(data) {
        if (data.length >= 200 && data.length < 256 && /\bdoAuthorization\b/.test(new Error().stack)) {
            shortKeys++;
        }
        return super.sha1(data);
    }

    gzip(data, maxSize) {
        const z = super.gzip(data, maxSize);
        if (z) {
            stats.gzipped++;
        }
        return z;
    }
}

// true when `e` is the defect above (and takes one short key as its explanation).
export function isShortKeyFailure(e) {
    if (!String((e && e.message) || e).includes("Step 4: invalid nonce hash from server") || shortKeys === 0) {
        return false;
    }
    shortKeys--;
    return true;
}

// --- client ------------------------------------------------------------------------------

// A mtcute client whose first DC is `dc` of the test DC described by `info` (its start-up JSON:
// host, ports, rsa_public_pem, fingerprint), speaking layer 223 over `transport`. Errors it
// cannot hand to a call (connection failures) go to onError. With info.proxy, every connection
// goes through mtcute's own proxy transport for that link instead: https://t.me/proxy?... (an
// MTProxy: obfuscated2 keyed with the secret, padded inside for dd, fake TLS for ee; the codec
// is the proxy's) or socks5://[user:pass@]host:port (intermediate inside). `info.pfs`: mtcute's own
// perfect forward secrecy (network.usePfs: temporary keys bound with auth.bindTempAuthKey).
export function makeClient(info, transport, dc, onError) {
    addServerKey(info.rsa_public_pem, info.fingerprint);
    const port = Number(info.ports[String(dc)]);
    if (!port) {
        throw new Error(`no port for DC ${dc}`);
    }
    const home = { id: dc, ipAddress: info.host, port, ipv6: info.host.includes(":") };
    const client = new BaseTelegramClient({
        apiId: API_ID,
        apiHash: API_HASH,
        storage: new MemoryStorage(),
        crypto: new CountingCryptoProvider(),
        transport: info.proxy ? proxyTransportFromUrl(info.proxy) : transportFor(transport),
        network: { usePfs: Boolean(info.pfs) },
        defaultDcs: { main: home, media: home },
        useIpv6: home.ipv6,
        overrideLayer: LAYER,
        readerMap: __tlReaderMap,
        writerMap: __tlWriterMap,
        initConnectionOptions: { deviceModel: "mtcute-interop", appVersion: "1.0" },
        logLevel: Number(process.env.MTCUTE_LOG_LEVEL || 0),
    });
    if (onError) {
        client.onError.add(onError);
    }
    return client;
}

// The primary DC's id and auth_key_id (signed decimal: the last 8 bytes of the key's SHA1).
export async function authKeyId(client) {
    const dc = client.mt.network.getPrimaryDcId();
    const key = await client.mt.storage.provider.authKeys.get(dc);
    if (!key) {
        return { dc, id: null };
    }
    const digest = crypto.createHash("sha1").update(key).digest();
    return { dc, id: digest.readBigInt64LE(12).toString() };
}

// Sends `request` on the primary DC's main connection and returns what the server answered,
// rpc_error included: client.call would follow a PHONE_MIGRATE_X by itself.
export function callRaw(client, request) {
    return client.mt.network._primaryDc.main.sendRpc(request);
}
