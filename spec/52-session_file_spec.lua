-- The session file: format, checksum, atomic 0600 writes, clear errors.
local helpers = require("helpers")
local tmpdir = helpers.tmpdir
local ls = helpers.ls
local sf = require("mtproto.session_file")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local key2 = string.rep("\171\0\255", 85) .. "\1"   -- 256 bytes
local key3 = string.rep("\3", 256)
local sample = {
  home_dc = 3, test_mode = true, bot = false, user_id = 4242,
  dcs = {
    [2] = { auth_key = key2, key_id = -123456789012345678, salt = 0x7fffffffffffffff, time_offset = -3600 },
    [3] = { auth_key = key3, key_id = 5, salt = math.mininteger, time_offset = 0 },
  },
  future_auth_tokens = { "\0\1token", string.rep("\255", 32) },
  login = { state = "wait_code", phone = "+99966 31234", phone_code_hash = "9d5d6b5e3a1c2f4e80", dc = 3,
    type = { _ = "auth.sentCodeTypeSms", length = 5 }, next_type = { _ = "auth.codeTypeCall" }, timeout = 120,
    deadline_ms = 1790000123456, key_id = 5 },
}

describe("session file format", function()
  it("round-trips every field", function()
    local text = sf.encode(sample)
    assert.equal("mtproto-lua-session 1\n", text:sub(1, 22))
    assert.truthy(text:find("\ncrc32 %x%x%x%x%x%x%x%x\n$"))
    local d = assert(sf.decode(text))
    assert.equal(3, d.home_dc)
    assert.is_true(d.test_mode)
    assert.is_false(d.bot)
    assert.equal(4242, d.user_id)
    assert.same(sample.dcs, d.dcs)
    assert.same(sample.login, d.login)
    assert.same(sample.future_auth_tokens, d.future_auth_tokens)
    -- optional login fields may be absent
    local s2 = { home_dc = 2, dcs = {}, login = { state = "wait_code", phone = "1", phone_code_hash = "h", dc = 2, key_id = 0 } }
    local d2 = assert(sf.decode(sf.encode(s2)))
    assert.is_nil(d2.login.next_type)
    assert.is_nil(d2.login.timeout)
    assert.is_nil(d2.login.deadline_ms)
    assert.is_nil(d2.user_id)
  end)

  it("checks the CRC32 with the standard polynomial", function()
    assert.equal(0xCBF43926, sf.crc32("123456789"))
    assert.equal(0, sf.crc32(""))
  end)

  it("rejects a foreign file, another version and every single-byte change", function()
    local text = sf.encode(sample)
    local d, err = sf.decode("SQLite format 3\0\4\0\1\1", "x.session")
    assert.is_nil(d)
    assert.equal("SESSION_FOREIGN", err.message)
    assert.truthy(tostring(err):find("x.session: not a mtproto-lua session file", 1, true))
    d, err = sf.decode((text:gsub("^mtproto%-lua%-session 1", "mtproto-lua-session 9")))
    assert.is_nil(d)
    assert.equal("SESSION_VERSION", err.message)
    assert.truthy(err.detail:find("version 9 is not supported", 1, true))
    d, err = sf.decode(text:sub(1, -10))
    assert.is_nil(d)
    assert.equal("SESSION_CORRUPT", err.message)
    local crc_line = #text - 15
    for i = 23, crc_line do
      local c = text:byte(i)
      local bad = text:sub(1, i - 1) .. string.char(c ~ 1) .. text:sub(i + 1)
      d, err = sf.decode(bad)
      assert.is_nil(d, "byte " .. i)
      assert.equal("SESSION_CORRUPT", err.message, "byte " .. i)
    end
  end)
end)

describe("session file on disk", function()
  it("is written atomically with mode 0600 and loads back", function()
    local dir = tmpdir()
    local path = dir .. "/my.session"
    local fresh = assert(sf.load(path))
    assert.is_true(fresh.new)
    assert.is_true(sf.save(path, sample))
    assert.same({ "my.session" }, ls(dir)) -- no temp file left behind
    local p = io.popen("stat -c %a '" .. path .. "'")
    assert.equal("600", p:read("l"))
    p:close()
    local d = assert(sf.load(path))
    assert.same(sample.dcs, d.dcs)
    sample.home_dc = 1
    assert.is_true(sf.save(path, sample))
    sample.home_dc = 3
    assert.equal(1, assert(sf.load(path)).home_dc)
    assert.same({ "my.session" }, ls(dir))
    os.remove(path)
    os.remove(dir)
  end)

  it("reports a file it cannot use and leaves it alone", function()
    local dir = tmpdir()
    local path = dir .. "/foreign.session"
    write(path, "not a session\n")
    local d, err = sf.load(path)
    assert.is_nil(d)
    assert.equal("SESSION_FOREIGN", err.message)
    assert.equal("not a session\n", read(path))
    local nd, derr = sf.load(dir) -- a directory
    assert.is_nil(nd)
    assert.equal("SESSION_IO", derr.message)
    local ok, werr = sf.save(dir .. "/no/such/dir/x.session", sample)
    assert.is_nil(ok)
    assert.equal("SESSION_IO", werr.message)
    os.remove(path)
    os.remove(dir)
  end)
end)

describe("core.file.write_atomic", function()
  local file = require("mtproto.core").file
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local path = dir .. "/session.bin"

  teardown(function() os.execute("rm -rf " .. dir) end)

  local function slurp(p)
    local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s
  end

  it("writes binary data with the given mode and replaces the old file", function()
    assert.is_true(file.write_atomic(path, "old\0data", 0x180))
    assert.equal("old\0data", slurp(path))
    assert.is_true(file.write_atomic(path, string.rep("n", 100000), 0x180))
    assert.equal(string.rep("n", 100000), slurp(path))
    local p = io.popen("stat -c %a " .. path); local m = p:read("l"); p:close()
    assert.equal("600", m)
    -- no temporary file is left behind
    local l = io.popen("ls -A " .. dir); local names = l:read("a"); l:close()
    assert.equal("session.bin\n", names)
  end)

  it("returns nil, err when the directory does not exist, leaving nothing", function()
    local ok, err = file.write_atomic(dir .. "/missing/x", "data")
    assert.is_nil(ok)
    assert.equal("FILE_IO", err.message)
    assert.matches("missing/x", err.detail)
  end)

  it("raises on a bad path or mode", function()
    assert.has_error(function() file.write_atomic("", "x") end)
    assert.has_error(function() file.write_atomic(path, "x", -1) end)
  end)
end)
