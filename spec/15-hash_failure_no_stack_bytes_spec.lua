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

-- A client (and core.conn.new, core.link.new, core.session.new) on a libcrypto that cannot
-- hash: making the crypto context failed there, and was reported as "out of memory", raised
-- from inside the first call. It is a runtime failure like the others: the call returns nil
-- and CRYPTO_FAILED (nothing is sent; misuse still raises first).
describe("a client whose libcrypto cannot hash", function()
  local testdc = require("mtproto.testdc")
  local dc
  setup(function() dc = assert(testdc.start{ dcs = 2 }) end)
  teardown(function() dc:stop() end)

  local function chunk()
    return ([[
      local mtproto, core = require("mtproto"), require("mtproto.core")
      local c = assert(mtproto.client{ api_id = 1, api_hash = "x", dc = 2, pfs = false, timeout = 5,
        dc_options = { [2] = { host = %q, port = %d } }, rsa_keys = { %q } })
      local r, err = c.help.getNearestDc{}
      print("call", r and r._, err and err.code, err and err.message)
      local conn, cerr = core.conn.new{ host = %q, port = %d, rsa_keys = { %q } }
      print("conn.new", type(conn), cerr and cerr.code, cerr and cerr.message)
      local link, lerr = core.link.new{ rsa_keys = { %q } }
      print("link.new", type(link), lerr and lerr.code, lerr and lerr.message)
      local sess, serr = core.session.new{}
      print("session.new", type(sess), serr and serr.code, serr and serr.message)
      print("misuse", pcall(core.conn.new, { host = %q, port = 0 }))
    ]]):format(dc.host, dc.ports[2], dc.pem, dc.host, dc.ports[2], dc.pem, dc.pem, dc.host)
  end

  it("gets nil, err (CRYPTO_FAILED) from its call, never a raised out of memory", function()
    local out, status = helpers.run_lua_without_openssl(chunk())
    assert.equal(0, status, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal("call\tnil\t-5\tCRYPTO_FAILED", lines[1], out)
    assert.equal("conn.new\tnil\t-5\tCRYPTO_FAILED", lines[2], out)
    assert.equal("link.new\tnil\t-5\tCRYPTO_FAILED", lines[3], out)
    assert.equal("session.new\tnil\t-5\tCRYPTO_FAILED", lines[4], out)
    assert.matches("^misuse\tfalse\t.*field 'port' must be an integer", lines[5], nil, out)
  end)

  it("with OpenSSL as configured, the same child gets the answer", function()
    local out, status = helpers.run_lua(chunk())
    assert.equal(0, status, out)
    assert.matches("^call\tnearestDc\tnil\tnil\nconn.new\tuserdata\tnil\tnil\nlink.new\tuserdata\tnil\tnil\n"
      .. "session.new\tuserdata\tnil\tnil\n", out)
  end)
end)
