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
