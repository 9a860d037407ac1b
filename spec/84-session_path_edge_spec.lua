-- Regression: session path edge cases. A symbolic link was replaced by a regular file on the
-- first save; a FIFO hung mtproto.client{} forever; a checksum-valid file with
-- time_offset = 2^40 loaded and then every call raised; CRLF line endings gave "version 1
-- is not supported (this is version 1)". Now links and non-regular files are refused at once,
-- every loaded field is range-checked (SESSION_CORRUPT naming the line), and CRLF files load.
local helpers = require("helpers")
local tmpdir = helpers.tmpdir
local mtproto = require("mtproto")
local sf = require("mtproto.session_file")

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

-- body lines (after the header) -> a whole file with a valid checksum
local function with_crc(lines)
  local body = sf.MAGIC .. " " .. sf.VERSION .. "\n" .. table.concat(lines, "\n") .. "\n"
  return body .. string.format("crc32 %08x\n", sf.crc32(body))
end

local KEY = string.rep("ab", 256)
local LOGIN = "login state=wait_code dc=2 key_id=5 phone=31 phone_code_hash=68 timeout=60 deadline_ms=1790000000000"

describe("a session path", function()
  local T = helpers.use_testdc{ dcs = 2 }
  local function open(path)
    return mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, session = path })
  end

  it("that is a symbolic link is refused, and the link and its target stay as they were", function()
    local dir = tmpdir()
    local target, link = dir .. "/real.session", dir .. "/link.session"
    local c = helpers.client(T.dc, { session = target })
    assert.truthy(c.help.getNearestDc{})
    c:close()
    local saved = helpers.slurp(target)
    assert(os.execute("ln -s real.session '" .. link .. "'"))
    local c2, err = open(link)
    if c2 then c2:close() end
    assert.is_nil(c2)
    assert.equal("SESSION_IO", err.message)
    assert.truthy(tostring(err):find("is a symbolic link", 1, true))
    assert.equal("real.session\n", sh("readlink '" .. link .. "'"))
    assert.equal(saved, helpers.slurp(target))
    -- a dangling link: nothing is created through it
    assert(os.execute("ln -s gone.session '" .. dir .. "/dangling.session'"))
    local c3, err3 = open(dir .. "/dangling.session")
    if c3 then c3:close() end
    assert.is_nil(c3)
    assert.equal("SESSION_IO", err3.message)
    assert.is_nil(io.open(dir .. "/gone.session"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("that is a FIFO or a directory is refused at once (it never hangs)", function()
    local dir = tmpdir()
    assert(os.execute("mkfifo '" .. dir .. "/fifo.session'"))
    -- in a child bounded by timeout(1): before the fix it waited forever for a writer
    local out = sh(string.format([[timeout 20 ]] .. helpers.LUA .. [[ -e '
      local c, err = require("mtproto").client{ api_id = 1, session = %q }
      print(c and "opened" or err.message .. " " .. err.detail)' 2>&1; echo "exit $?"]], dir .. "/fifo.session"))
    assert.matches("^SESSION_IO .*fifo%.session is not a regular file.*\nexit 0\n$", out)
    assert(os.execute("mkdir '" .. dir .. "/dir.session'"))
    local c, err = open(dir .. "/dir.session")
    assert.is_nil(c)
    assert.equal("SESSION_IO", err.message)
    assert.truthy(tostring(err):find("not a regular file", 1, true))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("with a value out of range in a checksum-valid file is SESSION_CORRUPT naming the line", function()
    local dir = tmpdir()
    local path = dir .. "/s.session"
    local good = { "home_dc 2", "test_mode 0", "bot 0", "user_id 42", "dc 2 " .. KEY .. " 5 -7 -3600", LOGIN }
    local rows = {
      { 5, "dc 2 " .. KEY .. " 5 -7 1099511627776", "time_offset out of range" },  -- 2^40
      { 5, "dc 2 " .. KEY .. " 5 -7 -2147483649", "time_offset out of range" },
      { 5, "dc 0 " .. KEY .. " 5 -7 0", "the DC id must be 1..1000" },
      { 5, "dc 1001 " .. KEY .. " 5 -7 0", "the DC id must be 1..1000" },
      { 5, "dc 2 " .. KEY:sub(3) .. " 5 -7 0", "the auth key must be 256 bytes" },
      { 5, "dc 2 " .. KEY .. " 5 99999999999999999999 0", "bad dc line" },
      { 1, "home_dc 0", "home_dc must be a DC id" },
      { 1, "home_dc 70000", "home_dc must be a DC id" },
      { 2, "test_mode yes", "test_mode must be 0 or 1" },
      { 3, "bot 2", "bot must be 0 or 1" },
      { 4, "user_id -5", "user_id must be a positive integer" },
      { 6, LOGIN:gsub("timeout=60", "timeout=-1"), "login field timeout out of range" },
      { 6, LOGIN:gsub("timeout=60", "timeout=4294967296"), "login field timeout out of range" },
      { 6, LOGIN:gsub("deadline_ms=%d+", "deadline_ms=-5"), "login field deadline_ms out of range" },
      { 6, LOGIN:gsub("dc=2", "dc=5000"), "the login's DC id" },
    }
    local ok_client = assert(sf.decode(with_crc(good)))
    assert.equal(-3600, ok_client.dcs[2].time_offset)
    for i, row in ipairs(rows) do
      local lines = { table.unpack(good) }
      lines[row[1]] = row[2]
      write(path, with_crc(lines))
      local c, err = open(path)
      if c then c:close() end
      assert.is_nil(c, i)
      assert.equal("SESSION_CORRUPT", err.message, i)
      assert.truthy(err.detail:find("line " .. (row[1] + 1) .. ": " .. row[3], 1, true), i .. ": " .. err.detail)
    end
    -- a line given twice
    for _, extra in ipairs { "home_dc 3", "dc 2 " .. KEY .. " 6 0 0", "user_id 43" } do
      local lines = { table.unpack(good) }
      lines[#lines + 1] = extra
      local d, err = sf.decode(with_crc(lines))
      assert.is_nil(d, extra)
      assert.equal("SESSION_CORRUPT", err.message)
      assert.truthy(err.detail:find("line 8", 1, true), err.detail)
    end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("with CRLF line endings loads as the same session; the next save writes LF", function()
    local dir = tmpdir()
    local path = dir .. "/s.session"
    local c = helpers.client(T.dc, { session = path })
    assert.truthy(c.help.getNearestDc{})
    local info = c:session_info()
    c:close()
    local lf = helpers.slurp(path)
    write(path, (lf:gsub("\n", "\r\n")))
    c = assert(open(path))
    assert.same(info.dcs[2].key_id, c:session_info().dcs[2].key_id)
    assert.truthy(c.help.getNearestDc{})
    c:close()
    assert.is_nil(helpers.slurp(path):find("\r", 1, true))
    -- another version says which, quoted when it is not a number
    local d, err = sf.decode(sf.MAGIC .. " 1 \n")
    assert.is_nil(d)
    assert.equal("SESSION_VERSION", err.message)
    assert.truthy(err.detail:find('version "1 " is not supported', 1, true), err.detail)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
