-- bench/crypto.lua: AES-256-IGE throughput and the client's CPU time for one handshake.
-- Prints `name value` lines (bench/run.lua collects them):
--   ige.ours_1k / ige.ours_512k        MB/s, our IGE encryption through the Lua binding
--   ige.openssl_1k / ige.openssl_512k  MB/s, OpenSSL's AES_ige_encrypt through the same binding path
--   ige.ours_dec_1k / ige.ours_dec_512k  MB/s, our IGE decryption (block by block)
--   ige.ours_1k_newkey                 MB/s, encryption with a new key for every message, as
--                                      MTProto 2.0 does (the rows above reuse one key, like the floor)
--   aes.ecb_floor                      MB/s, the serial AES-NI floor: AES-256-CBC encryption of
--                                      512 KiB messages in a C loop (one EVP ECB call over a big
--                                      buffer is parallel, so it is not the floor)
--   aes.cbc_floor_1k_inproc            MB/s, the same floor for 1 KiB messages
--   handshake.client_cpu_ms            ms of CPU for the client's steps of one in-memory handshake
--                                      (the server's steps are not counted); median of N
--   srp.check_password_ms              ms of CPU for one mtproto.srp.check (the known prime, a
--                                      fresh B from the server side each time); median of 7
local core = require("mtproto.core")
local C, A = core.crypto, core.auth

local SECS = tonumber(os.getenv("BENCH_SECS")) or 0.3
local HANDSHAKES = tonumber(os.getenv("BENCH_HANDSHAKES")) or 30

local function throughput(f, size)
  local key, iv, data = C.random(32), C.random(32), C.random(size)
  local reps = size >= 65536 and 1 or 256
  local n, t0 = 0, os.clock()
  local dt
  repeat
    for _ = 1, reps do f(key, iv, data) end
    n = n + reps
    dt = os.clock() - t0
  until dt >= SECS
  return n * size / dt / 1e6
end

local out = {}
local function put(name, v) out[#out + 1] = ("%s %.2f"):format(name, v) end

for _, sz in ipairs { { "1k", 1024 }, { "512k", 524288 } } do
  put("ige.ours_" .. sz[1], throughput(C.ige_encrypt, sz[2]))
  put("ige.openssl_" .. sz[1], throughput(C.openssl_ige_encrypt, sz[2]))
  put("ige.ours_dec_" .. sz[1], throughput(C.ige_decrypt, sz[2]))
end
do -- a fresh key per 1 KiB message: 64 keys in rotation defeat the context's key cache
  local keys, iv, data = {}, C.random(32), C.random(1024)
  for i = 1, 64 do keys[i] = C.random(32) end
  local n, t0 = 0, os.clock()
  local dt
  repeat
    for i = 1, 64 do C.ige_encrypt(keys[i], iv, data) end
    n = n + 64
    dt = os.clock() - t0
  until dt >= SECS
  put("ige.ours_1k_newkey", n * 1024 / dt / 1e6)
end
put("aes.ecb_floor", C.bench_cbc_floor(524288, SECS))
put("aes.cbc_floor_1k_inproc", C.bench_cbc_floor(1024, SECS))

-- One in-memory handshake; only the client's steps are timed (os.clock = process CPU time).
local priv = A.rsa_generate()
local times = {}
for i = 1, HANDSHAKES do
  local srv = A.server{ key_pem = priv }
  local cl = A.client{ rsa_keys = { srv:public_pem() } }
  local cpu = 0
  local t0 = os.clock()
  local st, msg = cl:step()
  cpu = cpu + os.clock() - t0
  while st == "send" do
    local _, answer = srv:step(msg)
    t0 = os.clock()
    st, msg = cl:step(answer)
    cpu = cpu + os.clock() - t0
  end
  assert(st == "done", msg)
  times[i] = cpu * 1000
end
table.sort(times)
put("handshake.client_cpu_ms", times[(#times + 1) // 2])
-- Two-step verification: the client's whole srp.check (checks, PBKDF2, three modexps, hashes).
do
  local srp = require("mtproto.srp")
  local algo = { _ = "passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow",
    salt1 = C.random(40), salt2 = C.random(16), g = 3, p = core.srp.known_prime }
  local v = core.srp.verifier("bench password", algo)
  local t = {}
  for i = 1, 7 do
    local B = core.srp.server_B(algo, v, C.random(256))
    local ap = { current_algo = algo, srp_B = B, srp_id = i }
    local t0 = os.clock()
    local check = assert(srp.check("bench password", ap))
    t[i] = (os.clock() - t0) * 1000
    assert(#check.M1 == 32)
  end
  table.sort(t)
  put("srp.check_password_ms", t[4])
end
print(table.concat(out, "\n"))
