-- Regression: writers killed mid-save left their ".<name>.tmp.XXXXXX" files behind, each a
-- copy of the auth keys, and nothing ever removed them (150 kills left 77). Opening the
-- session, once its lock is held, now removes the stale temp files of that session, and only
-- those.
local helpers = require("helpers")
local tmpdir = helpers.tmpdir
local ls = helpers.ls
local mtproto = require("mtproto")
local session_file = require("mtproto.session_file")

local function touch(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text or "secret")
  f:close()
end

describe("stale temporary session files", function()
  local T = helpers.use_testdc{ dcs = 2 }

  it("of this session are removed on open; other files are kept", function()
    local dir = tmpdir()
    local path = dir .. "/s.session"
    local c = helpers.client(T.dc, { session = path })
    assert.truthy(c.help.getNearestDc{})
    assert.is_true(c:close())
    local text = helpers.slurp(path)
    local stale = { ".s.session.tmp.AbC123", ".s.session.tmp.zzzzzz", ".s.session.tmp.000000" }
    for _, n in ipairs(stale) do touch(dir .. "/" .. n, text) end
    local keep = {
      ".s.session.tmp.AbC12", ".s.session.tmp.AbC1234", "s.session.tmp.AbC123",
      ".t.session.tmp.AbC123", ".s.session.tmp.AbC12-", ".x.s.session.tmp.AbC123",
      ".s.session.tmp.AbC123.tmp.AbC123",
    }
    for _, n in ipairs(keep) do touch(dir .. "/" .. n) end
    assert(os.execute("mkdir '" .. dir .. "/.s.session.tmp.Dir123'")) -- not a regular file
    local lines = {}
    c = helpers.client(T.dc, { session = path, log_level = "info",
      logger = function(_, msg) lines[#lines + 1] = msg end })
    local expect = { ".s.session.lock", ".s.session.tmp.Dir123", "s.session" }
    for _, n in ipairs(keep) do expect[#expect + 1] = n end
    table.sort(expect)
    assert.same(expect, ls(dir))
    assert.truthy(table.concat(lines, "\n"):find("removed 3 stale temporary file(s) of " .. path, 1, true))
    assert.is_true(c:close())
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("left by writers killed with SIGKILL are gone after the next open", function()
    local dir = tmpdir()
    local path = dir .. "/k.session"
    -- a writer saving a large session in a loop, killed at random moments
    local script = dir .. "/writer.lua"
    touch(script, ([[
      local sf = require("mtproto.session_file")
      local d = { home_dc = 2, dcs = {} }
      for i = 1, 5 do d.dcs[i] = { auth_key = string.rep(string.char(i), 256), key_id = i, salt = 0, time_offset = 0 } end
      io.write(io.open("/proc/self/stat"):read("l"):match("^%%d+"), "\n")
      io.stdout:flush()
      while true do assert(sf.save(%q, d)) end
    ]]):format(path))
    for _ = 1, 5 do
      local p = io.popen("exec " .. helpers.LUA .. " '" .. script .. "'")
      local pid = p:read("l")
      require("mtproto.core").conn.sleep(0.05)
      os.execute("kill -9 " .. pid)
      p:close()
    end
    local c = helpers.client(T.dc, { session = path })
    local left = {}
    for _, n in ipairs(ls(dir)) do if n:find("tmp") then left[#left + 1] = n end end
    assert.same({}, left)
    local d = assert(session_file.load(path)) -- the old file or a new one, never a torn one
    for i = 1, 5 do assert.equal(string.rep(string.char(i), 256), d.dcs[i].auth_key) end
    assert.is_true(c:close())
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("are not touched while another client holds the session", function()
    local dir = tmpdir()
    local path = dir .. "/s.session"
    local first = helpers.client(T.dc, { session = path })
    local live = dir .. "/.s.session.tmp.Live01" -- as if the first client were writing it now
    touch(live)
    local second, err = mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, session = path })
    assert.is_nil(second)
    assert.equal("SESSION_LOCKED", err.message)
    assert.equal("secret", helpers.slurp(live))
    assert.is_true(first:close())
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
