-- The Lua bindings fail at run time in one shape: nil and a table { code = <integer>,
-- message = <UPPER_CASE name>, detail = <text> } (plus a few named extras), which
-- mtproto.errors turns into an mtproto.Error as it is. Each module of mtproto.core is made
-- to fail for real here: a file that is a symbolic link, a sealed file under another key, a
-- malformed schema and TL bytes, a malformed transport frame, a packet under an unknown key,
-- a tampered handshake answer, unsafe SRP parameters and a wrong password proof, OpenSSL
-- without a provider (in a child), a SOCKS5 proxy refusing, a call past its deadline, a
-- refused TCP connection.
local core = require("mtproto.core")
local errors = require("mtproto.errors")
local helpers = require("helpers")

-- Fields some bindings add to the one shape, with their types.
local EXTRAS = { reply = "number", transport_code = "number", pending = "boolean" }

local function check_shape(what, ...)
  local n, v, err = select("#", ...), ...
  assert.equal(2, n, what .. ": nil, err (two values)")
  assert.is_nil(v, what)
  assert.equal("table", type(err), what .. ": err is a table")
  assert.is_nil(getmetatable(err), what .. ": a plain table")
  assert.equal("integer", math.type(err.code), what .. ": code is an integer")
  assert.equal("string", type(err.message), what .. ": message")
  assert.matches("^[A-Z][A-Z0-9_]*$", err.message, nil, nil, what .. ": message is a name")
  assert.equal("string", type(err.detail), what .. ": detail")
  assert.is_true(#err.detail > 0, what .. ": detail says something")
  for k, val in pairs(err) do
    if k ~= "code" and k ~= "message" and k ~= "detail" then
      assert.equal(EXTRAS[k], type(val), what .. ": field " .. tostring(k))
    end
  end
  -- mtproto.errors takes it as it is
  local e = errors.from_conn(err, "spec.method")
  assert.is_true(errors.is(e), what)
  assert.same({ err.code, err.message, err.detail, "spec.method" }, { e.code, e.message, e.detail, e.method })
  assert.equal("string", type(e.kind), what .. ": kind")
  assert.matches(err.message, tostring(e), nil, true)
  return err
end

describe("every binding fails at run time with nil and the one error table", function()
  local dir
  before_each(function()
    dir = helpers.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("core.file: a symbolic link, a missing directory, a held lock", function()
    local f = core.file
    assert(io.open(dir .. "/target", "w")):close()
    assert(os.execute("ln -s target '" .. dir .. "/link'"))
    local err = check_shape("file.read", f.read(dir .. "/link", 1024))
    assert.equal("FILE_SYMLINK", err.message)
    err = check_shape("file.write_atomic", f.write_atomic(dir .. "/missing/x", "data"))
    assert.equal("FILE_IO", err.message)
    local lock = assert(f.lock(dir, ".s.lock"))
    err = check_shape("file.lock", f.lock(dir, ".s.lock"))
    assert.equal("FILE_LOCKED", err.message)
    lock:close()
  end)

  it("core.seal: another key, a cut file, another kind of secret", function()
    local seal = core.seal
    local k <close> = assert(seal.key("key", string.rep("\7", 32)))
    local file = assert(k:seal("plain"))
    local other <close> = assert(seal.key("key", string.rep("\8", 32)))
    assert.equal("SEAL_KEY_INVALID", check_shape("key:open", other:open(file)).message)
    assert.equal("SEAL_TRUNCATED", check_shape("key:open", k:open(file:sub(1, 70))).message)
    assert.equal("SEAL_KIND_MISMATCH", check_shape("seal.key", seal.key("passphrase", "pw", file)).message)
    assert.equal("SEAL_FORMAT_INVALID", check_shape("seal.header", seal.header(("x"):rep(100))).message)
  end)

  it("core.tl: a malformed schema and a missing schema file", function()
    local reg = core.tl.new()
    assert.equal("SCHEMA_INVALID", check_shape("tl.load_string", reg.load_string("not a declaration")).message)
    assert.equal("FILE_IO", check_shape("tl.load", reg.load(dir .. "/none.tl")).message)
  end)

  it("core.transport: a malformed frame and a transport error", function()
    local t = core.transport.client("intermediate", { random = string.rep("\0", 64) })
    t:start()
    t:feed(string.pack("<I4", 6) .. "abcdef")
    assert.equal("FRAME_INVALID", check_shape("transport:next", t:next()).message)
    t = core.transport.client("intermediate", { random = string.rep("\0", 64) })
    t:start()
    t:feed(string.pack("<I4i4", 4, -404))
    local err = check_shape("transport:next", t:next())
    assert.same({ "TRANSPORT_ERROR_404", -404 }, { err.message, err.transport_code })
    assert.same({ "TRANSPORT_ERROR", 404 }, { errors.from_conn(err).type, errors.from_conn(err).value })
  end)

  it("core.proxy: a SOCKS5 proxy that refuses the target", function()
    local s = core.proxy.socks5("10.1.2.3", 443)
    s:start()
    assert(s:feed("\5\0"))
    local err = check_shape("socks5:feed", s:feed("\5\5\0\1"))
    assert.same({ "PROXY_REFUSED", 5 }, { err.message, err.reply })
    assert.equal("network", errors.from_conn(err).kind)
  end)

  it("core.link: a call past its deadline", function()
    local link <close> = core.link.new { dc_id = 2, transport = "intermediate", timeout = 10,
      connect_timeout = 5, init = { api_id = 1 } }
    local id = link:send(core.tl.encode{ _ = "ping", ping_id = 7 }, 0, 3)
    link:tick(3)
    local err = check_shape("link:take", link:take(id))
    assert.equal("TIMEOUT", err.message)
  end)

  it("core.tl: unknown, cut and badly gzipped TL bytes", function()
    local tl = core.tl
    local err = check_shape("tl.decode", tl.decode(string.pack("<I4", 0xdeadbeef)))
    assert.same({ "PROTOCOL_ERROR", "offset 0: unknown constructor 0xdeadbeef" }, { err.message, err.detail })
    err = check_shape("tl.decode_result", tl.decode_result("account.updateStatus", string.pack("<I4", 7)))
    assert.equal("PROTOCOL_ERROR", err.message)
    assert.equal("INPUT_TRUNCATED", check_shape("tl.decode", tl.decode("\x19\xca\x44")).message)
    assert.equal("GZIP_INVALID", check_shape("tl.gunzip", tl.gunzip("not gzip")).message)
  end)

  it("core.session: a packet under another auth key (beside the events)", function()
    local s <close> = core.session.new { auth_key = string.rep("\7", 256) }
    local ev, err = s:receive(string.rep("\1", 72), 1700000000)
    assert.same({}, ev)
    assert.equal("AUTH_KEY_ID_INVALID", check_shape("session:receive", nil, err).message)
  end)

  it("core.auth: a tampered handshake answer, a key asked too early, bad keys and messages", function()
    local A, now = core.auth, 1700000000
    local c = A.client { random = string.rep("\1", 64) }
    assert.equal("send", (c:step(nil, now)))
    assert.equal("HANDSHAKE_INCOMPLETE", check_shape("client:result", c:result()).message)
    local err = check_shape("client:step", c:step(string.rep("\0", 84), now))
    assert.same({ "PROTOCOL_ERROR", "expected resPQ" }, { err.message, err.detail })
    assert.equal("RSA_KEY_INVALID", check_shape("auth.rsa_fingerprint", A.rsa_fingerprint("nope")).message)
    assert.equal("HANDSHAKE_FAILED", check_shape("auth.factor_pq", A.factor_pq(105)).message)
    assert.equal("PROTOCOL_ERROR", check_shape("auth.plain_unwrap", A.plain_unwrap("\1" .. ("\0"):rep(23))).message)
    assert.equal("PROTOCOL_ERROR", check_shape("auth.bind_parse", A.bind_parse(("\0"):rep(44))).message)
    local b = { nonce = 1, temp_auth_key_id = 2, temp_session_id = 3, expires_at = 4, msg_id = 5 }
    err = check_shape("auth.bind_verify", A.bind_verify(string.rep("\7", 256), "", b))
    assert.same({ "HANDSHAKE_FAILED", "encrypted_message has a bad length" }, { err.message, err.detail })
  end)

  it("core.srp: a p that is not prime, and a wrong password proof on the server's side", function()
    local srp = core.srp
    local bad = { salt1 = "s1", salt2 = "s2", g = 3, p = string.rep("\255", 256) }
    local err = check_shape("srp.client", srp.client("pw", bad, string.rep("\2", 256)))
    assert.same({ "SRP_PARAMS_INVALID", "p is not prime" }, { err.message, err.detail })
    assert.equal("SRP_PARAMS_INVALID", check_shape("srp.new_hash", srp.new_hash("pw", bad)).message)
    local algo = { salt1 = "s1", salt2 = "s2", g = 3, p = srp.known_prime }
    local v, b = assert(srp.verifier("pw", algo)), string.rep("\3", 256)
    local B = assert(srp.server_B(algo, v, b))
    local A = assert(srp.client("other", algo, B))
    local _, M1 = srp.client("other", algo, B)
    err = check_shape("srp.server_check", srp.server_check(algo, v, b, A, M1))
    assert.equal("PASSWORD_HASH_INVALID", err.message)
  end)

  it("core.crypto: OpenSSL without a provider for the digest, the cipher or the random bytes", function()
    -- the child prints, per call: the count of values, the first, then the error's fields
    -- (MTPROTO_NO_AESNI: IGE takes OpenSSL's cipher, as on a CPU without AES-NI)
    local out, status = helpers.run_lua_without_openssl([[
      local c = require("mtproto.core").crypto
      local k32, k16 = string.rep("k", 32), string.rep("i", 16)
      local calls = {
        { "crypto.sha1", c.sha1, "abc" }, { "crypto.sha256", c.sha256, "abc" },
        { "crypto.random", c.random, 8 }, { "crypto.ctr", c.ctr, k32, k16, "abc" },
        { "crypto.ige_encrypt", c.ige_encrypt, k32, k32, k16 },
      }
      for _, call in ipairs(calls) do
        local r = table.pack(call[2](table.unpack(call, 3)))
        local e = type(r[2]) == "table" and r[2] or {}
        print(table.concat({ call[1], r.n, tostring(r[1]), tostring(getmetatable(e)), math.type(e.code),
          tostring(e.code), tostring(e.message), tostring(e.detail) }, "|"))
      end
    ]], "MTPROTO_NO_AESNI=1 ")
    assert.equal(0, status, out)
    local seen = 0
    for line in out:gmatch("[^\n]+") do
      local name, n, first, mt, ctype, code, message, detail =
        line:match("^([%w._]+)|(%d+)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$")
      assert.truthy(name, line)
      assert.same({ "2", "nil", "nil", "integer" }, { n, first, mt, ctype }, name)
      local err = check_shape(name, nil, { code = math.tointeger(code), message = message, detail = detail })
      assert.equal("CRYPTO_FAILED", err.message, name)
      seen = seen + 1
    end
    assert.equal(5, seen, out)
  end)

  it("core.conn: a refused TCP connection", function()
    local c <close> = core.conn.new { host = "127.0.0.1", port = 1, dc_id = 1, transport = "padded",
      timeout = 0.5, connect_timeout = 2, init = { api_id = 1 } }
    local err = check_shape("conn:connect", c:connect())
    assert.equal("NETWORK_ERROR", err.message)
  end)
end)
