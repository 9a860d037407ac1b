-- bin/mtproto --proxy URL: the command reaches a test DC only through its MTProxy listener
-- (the DC's own address given to the command is one nobody listens on) or through microsocks;
-- a proxy URL that cannot work is a usage error (exit 2) before anything is sent.
local helpers = require("helpers")

local SECRET = "00112233445566778899aabbccddeeff"
local CMD = helpers.LUA .. " " .. helpers.ROOT .. "/bin/mtproto"
local SEND = ("call auth.sendCode phone_number=9996621234 api_id=%d api_hash=%s "):format(helpers.API_ID,
  helpers.API_HASH) .. [['settings:={"_":"codeSettings"}']]

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a shell command: its stdout+stderr and its exit status.
local function run(cmd) return helpers.run(cmd .. " 2>&1") end

describe("mtproto --proxy", function()
  local T = helpers.use_testdc{ dcs = 2, mtproxy = SECRET, flood = false }
  local pem, socks
  lazy_setup(function()
    pem = os.tmpname()
    local f = assert(io.open(pem, "w"))
    f:write(T.dc.pem)
    f:close()
    socks = helpers.start_microsocks{ user = "dave", password = "pa:ss" }
  end)
  lazy_teardown(function()
    os.remove(pem)
    if socks then socks.stop() end
  end)

  -- the command against DC 2 of the test DC at host:port, with `extra` options
  local function command(host, port, extra)
    return ("%s --api-id %d --api-hash %s --rsa-key %s --dc 2 --host %s --port %d %s %s"):format(CMD,
      helpers.API_ID, helpers.API_HASH, shq(pem), host, port, extra, SEND)
  end

  for _, kind in ipairs { "plain", "dd", "ee" } do
    it("calls a method through the MTProxy listener, " .. kind .. " secret", function()
      -- port 1: the DC's address is the proxy's business (it picks the DC by number)
      local out, status = run(command("127.0.0.1", 1, "--proxy " .. shq(T.dc:proxy_url(kind))))
      assert.equal(0, status, out)
      assert.matches('_ = "auth.sentCode"', out, 1, true)
    end)
  end

  it("takes https://t.me/proxy links and --proxy=URL", function()
    local url = T.dc:proxy_url("dd"):gsub("^tg://proxy", "https://t.me/proxy")
    local out, status = run(command("127.0.0.1", 1, "--proxy=" .. shq(url) .. " --json"))
    assert.equal(0, status, out)
    assert.matches('"_":"auth.sentCode"', out, 1, true)
  end)

  it("calls a method through microsocks with a login", function()
    local url = ("socks5://dave:pa%%3Ass@127.0.0.1:%d"):format(socks.port)
    local out, status = run(command(T.dc.host, T.dc.ports[2], "--proxy " .. shq(url)))
    assert.equal(0, status, out)
    assert.matches('_ = "auth.sentCode"', out, 1, true)
  end)

  it("reports a proxy failure on stderr with exit status 1", function()
    local url = ("socks5://dave:wrong@127.0.0.1:%d"):format(socks.port)
    local out, status = run(command(T.dc.host, T.dc.ports[2], "--proxy " .. shq(url)))
    assert.equal(1, status, out)
    assert.matches("PROXY_AUTH_FAILED", out, 1, true)
  end)

  it("refuses a proxy URL that cannot work: exit 2, nothing sent", function()
    local rows = {
      { "http://127.0.0.1:1", "expected tg://proxy" },
      { "tg://proxy?server=127.0.0.1&port=1&secret=zz", "got 1 bytes" },
      { "socks5://127.0.0.1", "expected socks5://" },
    }
    for _, r in ipairs(rows) do
      local out, status = run(command("127.0.0.1", 1, "--proxy " .. shq(r[1])))
      assert.equal(2, status, out)
      assert.matches("^mtproto: .*proxy: ", out)
      assert.matches(r[2], out, 1, true)
    end
    local out, status = run(CMD .. " --test-dc call help.getConfig --proxy")
    assert.equal(2, status, out)
    assert.matches("--proxy needs a value", out, 1, true)
  end)
end)
