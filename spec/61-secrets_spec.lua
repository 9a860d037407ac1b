-- Secrets: no auth key in any log line, and a session file that is 0600 and written
-- atomically (a writer killed with SIGKILL at any moment leaves the old or the new file,
-- never a broken one, and no temporary file that others can read).
local core = require("mtproto.core")
local helpers = require("helpers")
local tmpdir = helpers.tmpdir
local ls = helpers.ls
local session_file = require("mtproto.session_file")

local function mode(path)
  local p = io.popen("stat -c %a '" .. path .. "' 2>/dev/null")
  local m = p:read("l")
  p:close()
  return m
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- Asserts that no 8-byte piece of `key` appears in `text`, raw or as hex (either case).
local function assert_absent(key, text, what)
  assert.equal(256, #key)
  local lower = text:lower()
  for off = 1, 256, 8 do
    local piece = key:sub(off, off + 7)
    assert.is_nil(text:find(piece, 1, true), what .. ": raw key bytes " .. off .. ".. in the log")
    assert.is_nil(lower:find(hex(piece), 1, true), what .. ": key bytes " .. off .. ".. in hex in the log")
  end
end

describe("no key in logs", function()
  it("a debug log of a login with migration, a dropped connection and a reopened session holds no key", function()
    -- drop_after: the first connection of every session is closed with requests unanswered
    local dc <close> = helpers.start_testdc{ dcs = 3, faults = { drop_after = 1 } }
    local dir = tmpdir()
    local path = dir .. "/login.session"
    local lines = {}
    local function logger(level, msg) lines[#lines + 1] = level .. " " .. msg end
    local client = helpers.client(dc, { session = path, log_level = "debug", logger = logger })
    -- the number lives on DC 1, the client starts on DC 2: two keys, PHONE_MIGRATE_1
    assert(client:send_code("9996611234"))
    local auth = assert(client:sign_in("11111"))
    assert.equal("auth.authorization", auth._)
    assert(client:invoke{ _ = "help.getNearestDc" })
    local keys = {
      assert(client:connection(1):state().auth_key),
      assert(client:connection(2):state().auth_key),
    }
    assert.are_not.equal(keys[1], keys[2])
    client:connection(1):disconnect()                  -- one more reconnect, same key
    assert(client:invoke{ _ = "help.getNearestDc" })
    client:close()
    -- a second process would reopen the session: the saved keys, no handshake
    local again = helpers.client(dc, { session = path, log_level = "debug", logger = logger })
    assert(again:invoke{ _ = "help.getNearestDc" })
    again:close()

    local all = table.concat(lines, "\n")
    -- the log did see everything: debug lines, the driver's connects and losses, the migration
    assert.matches("debug call help.getNearestDc on DC 1", all)
    assert.matches("DC 1: connected to 127%.0%.0%.1:%d+", all)
    assert.matches("DC %d: new auth key with", all)
    assert.matches("connection to 127%.0%.0%.1:%d+ lost", all)
    assert.matches("PHONE_MIGRATE_1", all)
    assert.matches("signed in as user", all)
    assert.is_true(#lines >= 20, #lines .. " lines")
    -- the keys are in the session file (and only there): the temporary keys the calls went
    -- over, and the permanent keys that bound them
    local saved = assert(session_file.load(path))
    assert.equal(keys[1], saved.temp_keys[1].auth_key)
    assert.equal(keys[2], saved.temp_keys[2].auth_key)
    for i, key in ipairs(keys) do assert_absent(key, all, "key of DC " .. i) end
    for i = 1, 2 do assert_absent(saved.dcs[i].auth_key, all, "permanent key of DC " .. i) end
    os.remove(path); os.remove(dir)
  end)

  it("session_info and tostring never show a key", function()
    local dc <close> = helpers.start_testdc{ dcs = 1 }
    local client = helpers.client(dc, { dc = 1, pfs = false })
    assert(client:invoke{ _ = "help.getNearestDc" })
    local key = client:connection(1):state().auth_key
    local function dump(v, seen, out)
      seen = seen or {}
      out = out or {}
      if type(v) == "table" then
        if seen[v] then return out end
        seen[v] = true
        for k, x in pairs(v) do dump(k, seen, out); dump(x, seen, out) end
      else
        out[#out + 1] = tostring(v)
      end
      return out
    end
    local text = table.concat(dump(client:session_info()), "\n") .. tostring(client)
      .. tostring(client:connection(1))
    assert.truthy(text:find(tostring(core.crypto.auth_key_id(key)), 1, true))  -- the key id is there
    assert_absent(key, text, "session_info")
    client:close()
  end)
end)

describe("the session file under SIGKILL", function()
  local root = helpers.ROOT
  local lua_path = package.path:gsub("'", "")
  local lua_cpath = package.cpath:gsub("'", "")

  -- A session of about 210 KB: 400 DCs' keys; `tag` goes in home_dc and user_id.
  local function big(tag)
    local d = { home_dc = tag, test_mode = true, bot = false, user_id = tag * 1000, dcs = {} }
    for i = 1, 400 do
      d.dcs[i] = { auth_key = string.rep(string.char((i + tag) % 256), 256), key_id = i * tag,
        salt = i, time_offset = 0 }
    end
    return d
  end

  -- Gone, or a zombie (killed; its new parent reaps it when it likes).
  local function dead(pid)
    local f = io.open("/proc/" .. pid .. "/stat")
    if not f then return true end
    local st = f:read("a")
    f:close()
    return st:match("^%d+ %b() (%a)") == "Z"
  end

  it("keeps the old file or a complete new one, at mode 0600, whenever the writer dies", function()
    local dir = tmpdir()
    local path = dir .. "/big.session"
    local ready = dir .. "/ready"
    assert(session_file.save(path, big(1)))
    assert.equal("600", mode(path))
    -- The writer saves versions 2..4 in turn, forever; it touches `ready` after its first save.
    -- umask 000: the files must still be 0600 (mode set explicitly, temp file from mkstemp).
    local writer = ([[
      local sf = require("mtproto.session_file")
      local texts = {}
      for tag = 2, 4 do
        local d = { home_dc = tag, test_mode = true, bot = false, user_id = tag * 1000, dcs = {} }
        for i = 1, 400 do
          d.dcs[i] = { auth_key = string.rep(string.char((i + tag) %% 256), 256), key_id = i * tag,
            salt = i, time_offset = 0 }
        end
        texts[tag] = sf.encode(d)
      end
      local n = 0
      while true do
        for tag = 2, 4 do
          assert(sf.write_atomic(%q, texts[tag]))
          n = n + 1
          if n == 1 then io.open(%q, "w"):close() end
        end
      end
    ]]):format(path, ready)
    local script = dir .. "/writer.lua"
    local f = assert(io.open(script, "w"))
    f:write(writer)
    f:close()
    local seen = {}
    for round, delay in ipairs { 0, 0.003, 0.011, 0.02, 0.037, 0.05, 0.073, 0.1 } do
      os.remove(ready)
      local pidf = dir .. "/pid"
      assert(os.execute(("cd '%s' && umask 000 && LUA_PATH='%s' LUA_CPATH='%s' lua5.4 '%s' >/dev/null 2>&1 & echo $! > '%s'")
        :format(root, lua_path, lua_cpath, script, pidf)))
      local pid = math.tointeger(tonumber(helpers.slurp(pidf):match("%d+")))
      assert.is_truthy(pid)
      assert.is_truthy(helpers.eventually(function() return io.open(ready) ~= nil end, 20),
        "the writer did not start")
      if delay > 0 then core.conn.sleep(delay) end
      os.execute("kill -9 " .. pid)
      assert.is_truthy(helpers.eventually(function() return dead(pid) end, 10))
      -- the file loads (checksum and all), is one whole version, and is still 0600
      local d, err = session_file.load(path)
      assert.is_truthy(d, "round " .. round .. ": " .. tostring(err))
      assert.is_true(d.home_dc >= 2 and d.home_dc <= 4, "round " .. round)
      local want = big(d.home_dc)
      assert.equal(want.user_id, d.user_id)
      assert.equal(400, #d.dcs)
      assert.equal(want.dcs[321].auth_key, d.dcs[321].auth_key)
      seen[d.home_dc] = true
      assert.equal("600", mode(path), "round " .. round)
      -- a temporary file the kill left behind is readable by its owner only
      for _, name in ipairs(ls(dir)) do
        if name:find("^%.big%.session%.tmp%.") then
          assert.equal("600", mode(dir .. "/" .. name), name)
          os.remove(dir .. "/" .. name)
        end
      end
    end
    assert.is_true(next(seen) ~= nil)
    for _, name in ipairs(ls(dir)) do os.remove(dir .. "/" .. name) end
    os.remove(dir)
  end)
end)

describe("secrets are wiped before their memory is freed", function()
  local root = helpers.ROOT
  -- Under `make test SANITIZE=1` ASan owns malloc/free and comes first in LD_PRELOAD, so the
  -- scanner could not see the frees; the plain `make test` and CI run it.
  if (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) then
    pending("the free() scanner does not run under ASan (plain make test runs it)")
    return
  end

  it("no block freed by the core, OpenSSL or zlib holds a piece of a key, new_nonce, temp_key, b or the SRP a and b", function()
    local dir = tmpdir()
    local so = dir .. "/free_scan.so"
    local cc = os.getenv("CC") or "cc"
    assert(os.execute(("%s -shared -fPIC -O1 -o '%s' '%s/spec/fixtures/free_scan.c' -ldl")
      :format(cc, so, root)), "cannot build the free() scanner")
    local p = assert(io.popen(("cd '%s' && LD_PRELOAD='%s' LUA_PATH='%s' LUA_CPATH='%s' lua5.4 spec/fixtures/wipe_check.lua 2>&1")
      :format(root, so, package.path:gsub("'", ""), package.cpath:gsub("'", ""))))
    local out = p:read("a")
    local ok = p:close()
    os.remove(so); os.remove(dir)
    assert.is_true(ok, out)
    local scanned, findings, first = out:match("scanned=(%d+) findings=(%d+) first=(%S+)")
    assert.is_truthy(scanned, out)
    assert.is_true(tonumber(scanned) > 1000, out)      -- the scanner did see the core's frees
    assert.equal("0", findings, "a freed block still held a secret (first freed by " .. tostring(first) .. ")")
  end)
end)
