-- mtproto.core.crypto: hashes, AES-256-IGE, MTProto 2.0 message keys.
local core = require("mtproto.core")
local C = core.crypto
local helpers = require("helpers")

local function unhex(s)
  s = s:gsub("[%s|]", "")
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
-- deterministic bytes for cross-checks (not crypto)
local function bytes(n, seed)
  local t, x = {}, seed or 1
  for i = 1, n do x = (x * 1103515245 + 12345) % 2147483648; t[i] = string.char(x >> 16 & 255) end
  return table.concat(t)
end

describe("hashes", function()
  it("match the FIPS 180 'abc' vectors", function()
    assert.equal("a9993e364706816aba3e25717850c26c9cd0d89d", hex(C.sha1("abc")))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex(C.sha256("abc")))
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex(C.sha256("")))
  end)
end)

describe("AES-256-IGE", function()
  it("agrees with OpenSSL's independent AES_ige_encrypt for many lengths, both ways", function()
    for _, n in ipairs { 0, 16, 32, 48, 256, 1024, 4080, 4096, 4112, 8192 + 48, 65536 } do
      local key, iv, pt = bytes(32, n + 1), bytes(32, n + 2), bytes(n, n + 3)
      local ct = assert(C.ige_encrypt(key, iv, pt))
      assert.equal(#pt, #ct)
      assert.equal(hex(C.openssl_ige_encrypt(key, iv, pt)), hex(ct), "length " .. n)
      assert.equal(hex(pt), hex(C.ige_decrypt(key, iv, ct)))
      assert.equal(hex(pt), hex(C.openssl_ige_decrypt(key, iv, ct)))
    end
  end)
  it("stays right when calls reuse a key with new ivs, or switch keys (the context cache)", function()
    local k1, k2 = bytes(32, 100), bytes(32, 101)
    for i, key in ipairs { k1, k1, k2, k1, k2, k2 } do
      local iv, pt = bytes(32, 200 + i), bytes(16 * i + 32, 300 + i)
      local ct = C.ige_encrypt(key, iv, pt)
      assert.equal(hex(C.openssl_ige_encrypt(key, iv, pt)), hex(ct))
      assert.equal(hex(pt), hex(C.ige_decrypt(key, iv, ct)))
      assert.equal(hex(pt), hex(C.ige_decrypt(key, iv, C.openssl_ige_encrypt(key, iv, pt))))
    end
  end)
  it("changes every later block when one plaintext bit flips", function()
    local key, iv, pt = bytes(32, 7), bytes(32, 8), bytes(64, 9)
    local pt2 = string.char(pt:byte(1) ~ 1) .. pt:sub(2)
    local a, b = C.ige_encrypt(key, iv, pt), C.ige_encrypt(key, iv, pt2)
    for i = 0, 3 do assert.are_not.equal(a:sub(i * 16 + 1, i * 16 + 16), b:sub(i * 16 + 1, i * 16 + 16)) end
  end)
  local function cpu_has_aes()
    local f = io.open("/proc/cpuinfo")
    local info = f and f:read("a") or ""
    if f then f:close() end
    return (" " .. (info:match("\nflags%s*:([^\n]*)") or "") .. " "):find(" aes ", 1, true) ~= nil
  end
  -- the child's deterministic bytes, as bytes() above
  local BYTES = [[
    local function bytes(n, seed)
      local t, x = {}, seed
      for i = 1, n do x = (x * 1103515245 + 12345) % 2147483648; t[i] = string.char(x >> 16 & 255) end
      return table.concat(t)
    end
  ]]
  it("runs on the AES instructions where the CPU has them", function()
    assert.equal(cpu_has_aes() and "aesni" or "openssl", C.ige_backend())
  end)
  it("gives the same bytes on the OpenSSL path (a CPU without AES-NI, or MTPROTO_NO_AESNI set)", function()
    local out = helpers.run_lua(BYTES .. [[
      local C = require("mtproto.core").crypto
      assert(C.ige_backend() == "openssl", C.ige_backend())
      for _, n in ipairs { 16, 48, 256, 4096, 4112 } do
        local key, iv, pt = bytes(32, n + 1), bytes(32, n + 2), bytes(n, n + 3)
        local ct = C.ige_encrypt(key, iv, pt)
        assert(ct == C.openssl_ige_encrypt(key, iv, pt), "encrypt " .. n)
        assert(C.ige_decrypt(key, iv, ct) == pt, "decrypt " .. n)
      end
      io.write("ok")
    ]], "MTPROTO_NO_AESNI=1 ")
    assert.equal("ok", out)
  end)
  it("needs no cipher from OpenSSL on AES-NI (OpenSSL with its null provider only)", function()
    if not cpu_has_aes() then return end
    local key, iv, pt = bytes(32, 11), bytes(32, 12), bytes(96, 13)
    local out = helpers.run_lua_without_openssl(BYTES .. [[
      local C = require("mtproto.core").crypto
      assert(not C.sha256("abc"), "OpenSSL still has its digests")
      local ct = assert(C.ige_encrypt(bytes(32, 11), bytes(32, 12), bytes(96, 13)))
      assert(C.ige_decrypt(bytes(32, 11), bytes(32, 12), ct) == bytes(96, 13))
      io.write((ct:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
    ]])
    assert.equal(hex(C.openssl_ige_encrypt(key, iv, pt)), out)
  end)
  it("rejects bad arguments", function()
    assert.has_error(function() C.ige_encrypt(("k"):rep(31), ("i"):rep(32), "") end, "bad argument #1 to 'ige_encrypt' (key must be 32 bytes, got 31)")
    assert.has_error(function() C.ige_decrypt(("k"):rep(32), ("i"):rep(16), "") end, "bad argument #2 to 'ige_decrypt' (iv must be 32 bytes, got 16)")
    assert.has_error(function() C.ige_encrypt(("k"):rep(32), ("i"):rep(32), "abc") end, "bad argument #3 to 'ige_encrypt' (data length must be a multiple of 16)")
  end)
end)

describe("AES-256-CTR", function()
  it("matches NIST SP 800-38A F.5.5", function()
    local key = unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    local iv = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    local pt = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    assert.equal("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5", hex(C.ctr(key, iv, pt)))
  end)
end)

describe("MTProto 2.0 keys", function()
  local ak = bytes(256, 42)
  it("msg_key is SHA256(auth_key[88+x..] .. plain)[8..24]", function()
    local plain = bytes(48, 5)
    assert.equal(hex(C.sha256(ak:sub(89, 120) .. plain):sub(9, 24)), hex(C.msg_key(ak, 0, plain)))
    assert.equal(hex(C.sha256(ak:sub(97, 128) .. plain):sub(9, 24)), hex(C.msg_key(ak, 8, plain)))
  end)
  it("kdf follows the MTProto 2.0 formula", function()
    local mk = bytes(16, 6)
    for _, x in ipairs { 0, 8 } do
      local a = C.sha256(mk .. ak:sub(x + 1, x + 36))
      local b = C.sha256(ak:sub(40 + x + 1, 40 + x + 36) .. mk)
      local k, iv = C.kdf(ak, mk, x)
      assert.equal(hex(a:sub(1, 8) .. b:sub(9, 24) .. a:sub(25, 32)), hex(k))
      assert.equal(hex(b:sub(1, 8) .. a:sub(9, 24) .. b:sub(25, 32)), hex(iv))
    end
    assert.has_error(function() C.kdf(ak, mk, 4) end)
  end)
  it("auth_key_id is the last 8 bytes of SHA1(auth_key), little-endian", function()
    local h = C.sha1(ak)
    assert.equal(string.unpack("<i8", h, 13), C.auth_key_id(ak))
  end)
  it("random gives fresh bytes of the asked length", function()
    assert.equal(0, #C.random(0))
    local a, b = C.random(32), C.random(32)
    assert.equal(32, #a)
    assert.are_not.equal(a, b)
  end)
end)
