-- mtproto.core.seal: scrypt and AES-256-GCM against published vectors, and the sealed file
-- format (src/mt_seal.h) rebuilt byte for byte from those primitives.
local core = require("mtproto.core")
local seal = core.seal

local function unhex(h)
  h = h:gsub("%s", "")
  return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

-- HMAC-SHA256 (RFC 2104) over the core's SHA-256: an independent check of the key schedule
local function hmac_sha256(key, msg)
  local function xor(k, b) return (k:gsub(".", function(c) return string.char(c:byte() ~ b) end)) end
  key = key .. string.rep("\0", 64 - #key)
  return core.crypto.sha256(xor(key, 0x5c) .. core.crypto.sha256(xor(key, 0x36) .. msg))
end

describe("scrypt (RFC 7914 section 12)", function()
  it("gives the published outputs", function()
    assert.equal("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442" ..
      "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
      hex(seal.scrypt("", "", 16, 1, 1, 64)))
    assert.equal("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" ..
      "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
      hex(seal.scrypt("password", "NaCl", 1024, 8, 16, 64)))
    assert.equal("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2" ..
      "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
      hex(seal.scrypt("pleaseletmein", "SodiumChloride", 16384, 8, 1, 64)))
  end)

  it("refuses parameters beyond 1 GiB of memory (the fourth vector) and bad ones", function()
    local range = { code = -3, message = "OUT_OF_RANGE", detail = "length or count out of range" }
    assert.same({ nil, range }, { seal.scrypt("pleaseletmein", "SodiumChloride", 1048576, 8, 1, 64) })
    assert.same({ nil, range }, { seal.scrypt("p", "s", 1000, 8, 1, 32) })
    assert.has_error(function() seal.scrypt("p", "s", 1, 8, 1, 32) end)
    assert.has_error(function() seal.scrypt("p", "s", 16, 0, 1, 32) end)
    assert.has_error(function() seal.scrypt("p", "s", 16, 1, 1, 0) end)
  end)
end)

describe("AES-256-GCM (the GCM specification's test cases 13-18)", function()
  local K = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
  local P = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" ..
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
  local A = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
  local IV = unhex("cafebabefacedbaddecaf888")
  local C15 = unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" ..
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad")
  local rows = {
    { "13", string.rep("\0", 32), string.rep("\0", 12), "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
    { "14", string.rep("\0", 32), string.rep("\0", 12), "", string.rep("\0", 16),
      unhex("cea7403d4d606b6e074ec5d3baf39d18"), "d0d1c8a799996bf0265b98b5d48ab919" },
    { "15", K, IV, "", P, C15, "b094dac5d93471bdec1a502270e3cc6c" },
    { "16", K, IV, A, P:sub(1, 60), C15:sub(1, 60), "76fc6ece0f4e1768cddf8853bb2d551b" },
    { "17 (64-bit IV)", K, unhex("cafebabefacedbad"), A, P:sub(1, 60),
      unhex("c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0" ..
        "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f"), "3a337dbf46a792c45e454913fe2ea8f2" },
    { "18 (480-bit IV)", K, unhex("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728" ..
        "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b"), A, P:sub(1, 60),
      unhex("5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4" ..
        "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f"), "a44a8266ee1c8eb0c8b5d4cf5ae9f19a" },
  }
  for _, r in ipairs(rows) do
    it("test case " .. r[1] .. " both ways, and a changed tag, text or AAD is refused", function()
      local key, iv, aad, plain, ct, tag = r[2], r[3], r[4], r[5], r[6], unhex(r[7])
      local c, t = seal.gcm_encrypt(key, iv, aad, plain)
      assert.equal(hex(ct), hex(c))
      assert.equal(hex(tag), hex(t))
      assert.equal(plain, seal.gcm_decrypt(key, iv, aad, ct, tag))
      local bad = string.char(tag:byte(1) ~ 1) .. tag:sub(2)
      assert.same({ nil, { code = -27, message = "SEAL_ALTERED", detail = "the encrypted data was altered" } },
        { seal.gcm_decrypt(key, iv, aad, ct, bad) })
      assert.is_nil(seal.gcm_decrypt(key, iv, aad .. "x", ct, tag))
      if #ct > 0 then
        assert.is_nil(seal.gcm_decrypt(key, iv, aad, string.char(ct:byte(1) ~ 0x80) .. ct:sub(2), tag))
      end
    end)
  end
end)

describe("sealed files", function()
  local KEY = string.rep("\7", 32)
  local NONCE = unhex("00112233445566778899aabb")
  local PLAIN = "mtproto-lua-session 1\nhome_dc 2\n"

  it("are the documented header, then AES-256-GCM under HMAC-derived keys with the header as AAD", function()
    local k = assert(seal.key("key", KEY, nil, { random = NONCE }))
    local file = assert(k:seal(PLAIN))
    assert.equal(68 + #PLAIN + 16, #file)
    local check = hmac_sha256(KEY, "check"):sub(1, 16)
    local header = "mtproto-sealed\n\0" .. "\1\2\1" .. "\0\0\0" .. "\0\0" .. string.rep("\0", 16) .. check .. NONCE
    assert.equal(hex(header), hex(file:sub(1, 68)))
    local c, t = seal.gcm_encrypt(hmac_sha256(KEY, "encrypt"), NONCE, header, PLAIN)
    assert.equal(hex(c .. t), hex(file:sub(69)))
    assert.equal(PLAIN, k:open(file))
    assert.same({ version = 1, kind = "key", log2_n = 0, r = 0, p = 0 }, seal.header(file))
    assert.is_true(seal.is_sealed(file))
    assert.is_false(seal.is_sealed(PLAIN))
    k:close()
  end)

  it("take a fresh nonce for every seal", function()
    local k = assert(seal.key("key", KEY))
    local a, b = k:seal(PLAIN), k:seal(PLAIN)
    assert.not_equal(a:sub(57, 68), b:sub(57, 68))
    assert.not_equal(a:sub(69), b:sub(69))
    assert.equal(PLAIN, k:open(a))
    assert.equal(PLAIN, k:open(b))
    k:close()
  end)

  it("tell a wrong key from an altered file, and never give plaintext for a changed byte", function()
    local k = assert(seal.key("key", KEY))
    local file = k:seal(PLAIN)
    local other = assert(seal.key("key", string.rep("\8", 32)))
    local none, werr = other:open(file)
    assert.is_nil(none)
    assert.same({ code = werr.code, message = "SEAL_KEY_INVALID", detail = "wrong passphrase or key" }, werr)
    other:close()
    for i = 1, #file do
      local bad = file:sub(1, i - 1) .. string.char(file:byte(i) ~ 0x01) .. file:sub(i + 1)
      local plain, err = k:open(bad)
      assert.is_nil(plain, "byte " .. i)
      -- magic, kind, AEAD, scrypt fields and salt (zero for a key) are checked as such; the
      -- key check value says "another key"; the nonce, the ciphertext and the tag fail the tag
      local want = i == 17 and "SEAL_VERSION_UNKNOWN" or i <= 40 and "SEAL_FORMAT_INVALID"
        or i <= 56 and "SEAL_KEY_INVALID" or "SEAL_ALTERED"
      assert.equal(want, err.message, "byte " .. i)
    end
    for n = 0, #file - 1 do
      local plain, err = k:open(file:sub(1, n))
      assert.is_nil(plain)
      assert.equal(n < 16 and "SEAL_FORMAT_INVALID" or n < 68 + 16 and "SEAL_TRUNCATED" or "SEAL_ALTERED",
        err.message, "length " .. n)
    end
    k:close()
  end)

  it("refuse headers out of range (scrypt memory, kinds, reserved bytes)", function()
    local k = assert(seal.key("key", KEY))
    local file = k:seal(PLAIN)
    k:close()
    local function with(pos, bytes) return file:sub(1, pos - 1) .. bytes .. file:sub(pos + #bytes) end
    -- a passphrase file asking for 2^24 * 8 * 128 bytes (16 GiB) of scrypt memory
    local huge = file:sub(1, 17) .. "\1\1\24\8\1" .. file:sub(23)
    local format = { code = -6, message = "SEAL_FORMAT_INVALID", detail = "protocol violation" }
    assert.same({ nil, format }, { seal.header(huge) })
    assert.same({ nil, format }, { seal.header(with(18, "\3")) })
    assert.same({ nil, format }, { seal.header(with(19, "\2")) })
    assert.same({ nil, format }, { seal.header(with(23, "\1")) })
    assert.same({ nil, { code = -3, message = "SEAL_VERSION_UNKNOWN", detail = "length or count out of range" } },
      { seal.header(with(17, "\2")) })
    -- a passphrase file within limits: its parameters are reported
    local ok = file:sub(1, 17) .. "\1\1\14\8\1" .. file:sub(23)
    assert.same({ version = 1, kind = "passphrase", log2_n = 14, r = 8, p = 1 }, seal.header(ok))
    assert.same({ nil, { code = -26, message = "SEAL_KIND_MISMATCH",
      detail = "this file is encrypted with a passphrase, not a key" } }, { seal.key("key", KEY, ok) })
  end)

  it("keys are checked up front and unusable once closed", function()
    assert.has_error(function() seal.key("key", "short") end, "bad argument #2 to 'key' (a key must be 32 bytes, got 5)")
    assert.has_error(function() seal.key("password", "x") end)
    local k = assert(seal.key("key", KEY))
    assert.matches("mtproto.seal.key %(key%)", tostring(k))
    k:close()
    k:close()
    assert.equal("mtproto.seal.key (closed)", tostring(k))
    assert.has_error(function() k:seal("x") end, "attempt to use a closed seal key")
    do
      local k2 <close> = assert(seal.key("key", KEY))
      assert.truthy(k2:seal(""))
    end
  end)
end)
