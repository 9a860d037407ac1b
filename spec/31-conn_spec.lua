-- core.conn: OS utilities and the blocking TCP driver against the local test DC.
local core = require("mtproto.core")
local conn = core.conn

describe("core.conn utilities", function()
  it("monotonic() advances across sleep()", function()
    local t0 = conn.monotonic()
    conn.sleep(0.02)
    local dt = conn.monotonic() - t0
    assert.is_true(dt >= 0.02, "slept " .. dt)
    assert.is_true(dt < 5)
  end)

  it("now() is the unix time as a float", function()
    local t = conn.now()
    assert.is_true(math.abs(t - os.time()) <= 2)
    assert.equal("float", math.type(t))
  end)

  it("sleep() rejects negative or non-numeric input", function()
    assert.has_error(function() conn.sleep(-1) end)
    assert.has_error(function() conn.sleep("x") end)
  end)

  describe("write_file_atomic", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local path = dir .. "/session.bin"

    teardown(function() os.execute("rm -rf " .. dir) end)

    local function slurp(p)
      local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s
    end

    it("writes binary data with the given mode and replaces the old file", function()
      assert.is_true(conn.write_file_atomic(path, "old\0data", 0x180))
      assert.equal("old\0data", slurp(path))
      assert.is_true(conn.write_file_atomic(path, string.rep("n", 100000), 0x180))
      assert.equal(string.rep("n", 100000), slurp(path))
      local p = io.popen("stat -c %a " .. path); local m = p:read("l"); p:close()
      assert.equal("600", m)
      -- no temporary file is left behind
      local l = io.popen("ls -A " .. dir); local names = l:read("a"); l:close()
      assert.equal("session.bin\n", names)
    end)

    it("returns nil, err when the directory does not exist, leaving nothing", function()
      local ok, err = conn.write_file_atomic(dir .. "/missing/x", "data")
      assert.is_nil(ok)
      assert.matches("missing/x", err)
    end)

    it("raises on a bad path or mode", function()
      assert.has_error(function() conn.write_file_atomic("", "x") end)
      assert.has_error(function() conn.write_file_atomic(path, "x", -1) end)
    end)
  end)
end)
