-- The Lua bindings fail at run time in one shape: nil and a table { code = <integer>,
-- message = <UPPER_CASE name>, detail = <text> } (plus a few named extras), which
-- mtproto.errors turns into an mtproto.Error as it is. Each binding module is made to fail
-- for real here: a file that is a symbolic link, a sealed file under another key, a
-- malformed schema, a malformed transport frame, a SOCKS5 proxy refusing, a call past its
-- deadline, a refused TCP connection.
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

  it("core.conn: a refused TCP connection", function()
    local c <close> = core.conn.new { host = "127.0.0.1", port = 1, dc_id = 1, transport = "padded",
      timeout = 0.5, connect_timeout = 2, init = { api_id = 1 } }
    local err = check_shape("conn:connect", c:connect())
    assert.equal("NETWORK_ERROR", err.message)
  end)
end)
