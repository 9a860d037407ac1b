-- core.crypto.sha1 and sha256 when OpenSSL cannot hash (a libcrypto configured without a
-- provider for the digest): they returned 20 or 32 bytes of whatever the C stack held, as
-- if they were the digest. They now return nil and the bindings' error table, and the
-- core's mt_sha1/mt_sha256 zero their output and say so.
local helpers = require("helpers")

local CHUNK = [[
  local c = require("mtproto.core").crypto
  for _, name in ipairs { "sha1", "sha256" } do
    local v, err = c[name]("abc")
    print(name, type(v), v and #v or err.code, err and err.message or "-")
  end
]]

describe("a digest OpenSSL cannot compute", function()
  it("is nil, err (CRYPTO_FAILED), never bytes", function()
    local out, status = helpers.run_lua_without_openssl(CHUNK)
    assert.equal(0, status, out)
    assert.equal("sha1\tnil\t-5\tCRYPTO_FAILED\nsha256\tnil\t-5\tCRYPTO_FAILED\n", out)
  end)

  it("with OpenSSL as configured, the same child gets the digests", function()
    local out, status = helpers.run_lua(CHUNK)
    assert.equal(0, status, out)
    assert.equal("sha1\tstring\t20\t-\nsha256\tstring\t32\t-\n", out)
  end)
end)

-- The SRP server side (what the test DC checks passwords with) hashed k = H(p | g) and
-- u = H(A | B) without looking at the result: with no digest, server_B returned a B made
-- from whatever the stack held, and server_check said PASSWORD_HASH_INVALID for any password.
local SRP_CHUNK = [[
  local C = require("mtproto.core").srp
  local algo = { _ = "passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow",
    g = 3, p = C.known_prime, salt1 = "s", salt2 = "t" }
  local v, b = ("\2"):rep(256), ("\3"):rep(256)
  local B, err = C.server_B(algo, v, b)
  print("server_B", type(B), B and #B or err.code, err and err.message or "-")
  local ok, err2 = C.server_check(algo, v, b, ("\4"):rep(256), ("\5"):rep(32))
  print("server_check", ok, err2.code, err2.message)
]]

describe("SRP when OpenSSL cannot hash", function()
  it("is nil, err (CRYPTO_FAILED), never a B or a verdict on the password", function()
    local out, status = helpers.run_lua_without_openssl(SRP_CHUNK)
    assert.equal(0, status, out)
    assert.equal("server_B\tnil\t-5\tCRYPTO_FAILED\nserver_check\tnil\t-5\tCRYPTO_FAILED\n", out)
  end)

  it("with OpenSSL as configured, the same child gets B and a wrong-password verdict", function()
    local out, status = helpers.run_lua(SRP_CHUNK)
    assert.equal(0, status, out)
    assert.equal("server_B\tstring\t256\t-\nserver_check\tnil\t-20\tPASSWORD_HASH_INVALID\n", out)
  end)
end)
