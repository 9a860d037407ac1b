-- mtproto.core.auth bind_*: the auth.bindTempAuthKey message that binds a temporary key to the
-- permanent one (MTProto v1 under the permanent key), client and server side.
local core = require("mtproto.core")
local A, C = core.auth, core.crypto

local helpers = require("helpers")
local bytes, hex, tlbytes = helpers.filler, helpers.hex, helpers.tlbytes

local perm = bytes(256, 5)
local perm_id = C.auth_key_id(perm)
local random = bytes(24, 7) -- 16 bytes of prefix, then 8 of padding
local function binding(over)
  local b = { nonce = 0x0123456789abcdef, temp_auth_key_id = -0x1122334455667788,
              temp_session_id = 0x7766554433221100, expires_at = 1700086400, msg_id = 0x6543210987654320 }
  for k, v in pairs(over or {}) do b[k] = v end
  return b
end

-- The v1 scheme written out here from the published description, over OpenSSL's own IGE.
local function reference(key, b, rnd)
  local inner = ("<I4i8i8i8i8i4"):pack(0x75a3f765, b.nonce, b.temp_auth_key_id, C.auth_key_id(key),
                                       b.temp_session_id, b.expires_at)
  local plain = rnd:sub(1, 16) .. ("<i8i4i4"):pack(b.msg_id, 0, #inner) .. inner
  local mk = C.sha1(plain):sub(5, 20)
  local function k(from, n) return key:sub(from + 1, from + n) end
  local a = C.sha1(mk .. k(0, 32))
  local bb = C.sha1(k(32, 16) .. mk .. k(48, 16))
  local c = C.sha1(k(64, 32) .. mk)
  local d = C.sha1(mk .. k(96, 32))
  local aes_key = a:sub(1, 8) .. bb:sub(9, 20) .. c:sub(5, 16)
  local aes_iv = a:sub(9, 20) .. bb:sub(1, 8) .. c:sub(17, 20) .. d:sub(1, 8)
  return ("<i8"):pack(C.auth_key_id(key)) .. mk .. C.openssl_ige_encrypt(aes_key, aes_iv, plain .. rnd:sub(17, 24))
end

describe("bind_auth_key_inner (client side)", function()
  it("encrypts the binding message with MTProto v1 under the permanent key", function()
    local enc = A.bind_encrypt(perm, binding(), random)
    assert.equal(8 + 16 + 80, #enc)
    assert.equal(hex(reference(perm, binding(), random)), hex(enc))
    -- pinned, so that a change in either implementation shows up
    assert.equal("0d0267c67d3fcd027b824230494a7c5570b3ff191121db311c565434129db2d2", hex(C.sha256(enc)))
  end)

  it("wraps it in auth.bindTempAuthKey with the request's own parameters", function()
    local body = A.bind_request(perm, binding(), random)
    local want = ("<I4i8i8i4"):pack(0xcdd42a05, perm_id, 0x0123456789abcdef, 1700086400)
                 .. tlbytes(reference(perm, binding(), random))
    assert.equal(hex(want), hex(body))
    local p = A.bind_parse(body)
    assert.same({ perm_auth_key_id = perm_id, nonce = 0x0123456789abcdef, expires_at = 1700086400,
                  encrypted_message = reference(perm, binding(), random) }, p)
  end)

  it("draws fresh random bytes each time without a fixed source", function()
    assert.not_equal(A.bind_encrypt(perm, binding()), A.bind_encrypt(perm, binding()))
  end)

  it("raises on misuse before building anything", function()
    assert.error_matches(function() A.bind_encrypt(perm:sub(2), binding()) end, "perm_key must be 256 bytes")
    assert.error_matches(function() A.bind_encrypt(perm, binding{ expires_at = 2 ^ 40 }) end,
                         "binding.expires_at must be an integer")
    assert.error_matches(function() A.bind_request(perm, binding{ nonce = "x" }) end, "binding.nonce must be an integer")
    -- fixed random bytes that run short
    assert.error_matches(function() A.bind_encrypt(perm, binding(), random:sub(1, 20)) end,
                         "the fixed random bytes ran short")
  end)

  it("refuses a body that is not auth.bindTempAuthKey", function()
    assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "not an auth.bindTempAuthKey request"), { A.bind_parse(("<I4"):pack(0x12345678) .. ("\0"):rep(40)) })
    local body = A.bind_request(perm, binding(), random)
    assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "input is truncated"), { A.bind_parse(body:sub(1, 30)) })
  end)
end)

describe("bind_auth_key_inner (server side)", function()
  local enc = A.bind_encrypt(perm, binding(), random)

  it("accepts the client's message when every field matches", function()
    assert.is_true(A.bind_verify(perm, enc, binding()))
    assert.is_true(A.bind_verify(perm, A.bind_encrypt(perm, binding()), binding()))
  end)

  local fields = {
    { "msg_id", 0x6543210987654324, "msg_id differs from the request's" },
    { "nonce", 1, "nonce mismatch" },
    { "temp_auth_key_id", 2, "temp_auth_key_id mismatch" },
    { "temp_session_id", 3, "temp_session_id mismatch" },
    { "expires_at", 1700086401, "expires_at mismatch" },
  }
  for _, f in ipairs(fields) do
    it("refuses a message whose " .. f[1] .. " is not the request's", function()
      assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", f[3]), { A.bind_verify(perm, enc, binding{ [f[1]] = f[2] }) })
      -- and the same built by a client that lied: the server's view differs again
      local lied = A.bind_encrypt(perm, binding{ [f[1]] = f[2] }, random)
      assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", f[3]), { A.bind_verify(perm, lied, binding()) })
    end)
  end

  it("refuses a message under another key, a flipped byte and a bad length", function()
    local other = bytes(256, 6)
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "encrypted_message is not under the permanent key"), { A.bind_verify(other, enc, binding()) })
    -- right key id, encrypted under another key: the v1 msg_key check fails
    local forged = enc:sub(1, 8) .. A.bind_encrypt(other, binding(), random):sub(9)
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "msg_key mismatch"), { A.bind_verify(perm, forged, binding()) })
    for _, at in ipairs({ 9, 24, 25, 60, 104 }) do
      local t = enc:sub(1, at - 1) .. string.char(enc:byte(at) ~ 1) .. enc:sub(at + 1)
      assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "msg_key mismatch"), { A.bind_verify(perm, t, binding()) })
    end
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "encrypted_message has a bad length"), { A.bind_verify(perm, enc .. ("\0"):rep(16), binding()) })
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "encrypted_message has a bad length"), { A.bind_verify(perm, enc:sub(1, 88), binding()) })
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "encrypted_message has a bad length"), { A.bind_verify(perm, "", binding()) })
  end)

  it("refuses a well-encrypted message with a nonzero seqno, a wrong length or another constructor", function()
    local function craft(mutate)
      local b = binding()
      local inner = ("<I4i8i8i8i8i4"):pack(0x75a3f765, b.nonce, b.temp_auth_key_id, perm_id, b.temp_session_id, b.expires_at)
      local seqno, len, ctor = mutate()
      if ctor then inner = ("<I4"):pack(ctor) .. inner:sub(5) end
      local plain = random:sub(1, 16) .. ("<i8i4i4"):pack(b.msg_id, seqno, len) .. inner
      local mk = C.sha1(plain):sub(5, 20)
      local function k(from, n) return perm:sub(from + 1, from + n) end
      local a, bb = C.sha1(mk .. k(0, 32)), C.sha1(k(32, 16) .. mk .. k(48, 16))
      local c, d = C.sha1(k(64, 32) .. mk), C.sha1(mk .. k(96, 32))
      return ("<i8"):pack(perm_id) .. mk .. C.openssl_ige_encrypt(a:sub(1, 8) .. bb:sub(9, 20) .. c:sub(5, 16),
        a:sub(9, 20) .. bb:sub(1, 8) .. c:sub(17, 20) .. d:sub(1, 8), plain .. random:sub(17, 24))
    end
    assert.is_true(A.bind_verify(perm, craft(function() return 0, 40 end), binding()))
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "seqno is not 0"), { A.bind_verify(perm, craft(function() return 1, 40 end), binding()) })
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "message length is not 40"), { A.bind_verify(perm, craft(function() return 0, 44 end), binding()) })
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "expected bind_auth_key_inner"),
                { A.bind_verify(perm, craft(function() return 0, 40, 0x12345678 end), binding()) })
  end)
end)

describe("temporary keys in the handshake", function()
  it("the server remembers expires_in of p_q_inner_data_temp_dc (full exchange in 11-auth)", function()
    local s = A.server{}
    local c = A.client{ rsa_keys = { s:public_pem() }, dc_id = 2, expires_in = 86400 }
    local what, out = c:step(nil, 1700000000)
    while what == "send" do
      local sw, sout = s:step(out, 1700000000)
      what, out = c:step(sout, 1700000000)
      if sw == "done" then break end
    end
    assert.equal("done", what)
    local r = s:result()
    assert.equal(86400, r.expires_in)
    assert.equal(2, r.dc_id)
    assert.equal(c:result().auth_key_id, r.auth_key_id)
  end)
end)

describe("the client's temporary-key policy (C core)", function()
  it("replaces a key a tenth of its life before expiry, at most 10 minutes before", function()
    assert.equal(1700086400 - 600, A.pfs_renew_at(1700086400, 86400))
    assert.equal(1000 - 0.3, A.pfs_renew_at(1000, 3))
    assert.equal(1000 - 360, A.pfs_renew_at(1000, 3600))
  end)

  it("after ENCRYPTED_MESSAGE_INVALID: an old or unknown permanent key is made again, a young one gets one more temporary key", function()
    assert.equal("new_both", A.pfs_bind_refused(-1, 1, false))     -- read from a session file
    assert.equal("new_both", A.pfs_bind_refused(61, 1, false))
    assert.equal("new_temp", A.pfs_bind_refused(5, 1, false))
    assert.equal("new_both", A.pfs_bind_refused(5, 2, false))
    assert.equal("new_temp", A.pfs_bind_refused(0.5, 1, true))     -- just made again
    assert.equal("give_up", A.pfs_bind_refused(1, 3, true))
    assert.equal("give_up", A.pfs_bind_refused(-1, 3, false))
  end)
end)
