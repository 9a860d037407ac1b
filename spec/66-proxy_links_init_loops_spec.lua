-- The other forms of the proxy option end to end (t.me links, base64 secrets in links, the
-- SOCKS5 table), the DC number the obfuscated2 init carries through an MTProxy (as the test
-- DC's listener read it: +10000 in test mode, negative for a media DC), a "proxy" that
-- speaks another protocol (PROXY_PROTOCOL_ERROR), and proxies under the event loops (cqueues,
-- luv): calls through an ee MTProxy and through microsocks, a silent proxy bounded by the timeout.
local H = require("helpers")
local core = require("mtproto.core")
local proxies = require("mtproto.proxy")

local SECRET = "00112233445566778899aabbccddeeff"

local function send_code(c)
  return c.auth.sendCode{ phone_number = "9996621234", api_id = H.API_ID, api_hash = H.API_HASH,
    settings = { _ = "codeSettings" } }
end

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

-- spec/fixtures/answer_server.lua answering `answer`: its port and a stop function.
local function answer_server(answer)
  local portfile = os.tmpname()
  -- the server prints its port into portfile, the shell prints its pid
  local p = assert(io.popen(("%s %s/spec/fixtures/answer_server.lua '%s' 60 >'%s' 2>/dev/null & echo $!"):format(
    H.LUA, H.ROOT, answer:gsub("'", "'\\''"), portfile), "r"))
  local pid = math.tointeger(tonumber(p:read("l")))
  p:close()
  local port
  H.eventually(function()
    port = tonumber((H.slurp(portfile) or ""):match("(%d+)\n"))
    return port
  end, 10)
  os.remove(portfile)
  assert(port, "the answer server did not start (lua-cqueues missing?)")
  return port, function() os.execute("kill " .. pid .. " 2>/dev/null") end
end

describe("proxy links, the DC in the init, a proxy speaking something else", function()
  local logpath = os.tmpname()
  local T = H.use_testdc{ dcs = 2, mtproxy = SECRET, flood = false, verbose = 1, log = logpath }
  lazy_teardown(function() os.remove(logpath) end)

  -- the init values the listener logged since `from` (a byte offset into its log)
  local function inits(from)
    local seen = {}
    for v in (H.slurp(logpath) or ""):sub(from + 1):gmatch("mtproxy conn%d+: to DC %d+ %(init (%-?%d+),") do
      seen[#seen + 1] = tonumber(v)
    end
    return seen
  end
  local function log_size() return #(H.slurp(logpath) or "") end

  it("takes https://t.me/proxy, t.me/proxy and tg://proxy/? links, secrets in base64 and base64url", function()
    local port = T.dc.mtproxy_port
    local dd, ee = H.unhex("dd" .. SECRET), H.unhex("ee" .. SECRET .. H.hex("www.example.org"))
    local links = {
      (T.dc:proxy_url("ee"):gsub("^tg://proxy", "https://t.me/proxy")),
      ("t.me/proxy?server=127.0.0.1&port=%d&secret=%s"):format(port, escape(H.base64(dd))),
      ("tg://proxy/?secret=%s&server=127.0.0.1&port=%d"):format(H.base64(ee, true), port),
      ("https://t.me/proxy?server=127.0.0.1&port=%d&secret=%s"):format(port, H.base64(H.unhex(SECRET), true)),
    }
    for _, url in ipairs(links) do
      local c = H.client(T.dc, { proxy = url })
      local sent, err = send_code(c)
      assert(sent, url .. ": " .. tostring(err))
      assert.equal("auth.sentCode", sent._)
      c:close()
    end
  end)

  it("puts the DC number in the init: as is, +10000 in test mode", function()
    local from = log_size()
    local c = H.client(T.dc, { proxy = T.dc:proxy_url("dd"), dc = 2 })
    assert(send_code(c))
    c:close()
    c = H.client(T.dc, { proxy = T.dc:proxy_url("ee"), dc = 1, test_mode = true })
    assert(c.help.getNearestDc{})
    c:close()
    -- twice each: with pfs (the default) a connection makes the permanent key, another the
    -- temporary key that carries the calls; both go through the proxy
    assert.same({ 2, 2, 10001, 10001 }, inits(from))
  end)

  it("puts a media DC's number in the init negative (core.conn, int16)", function()
    local from = log_size()
    for _, kind in ipairs { "plain", "ee" } do
      local conn = core.conn.new{ host = "127.0.0.1", port = 1, dc_id = -2, transport = "padded",
        rsa_keys = { T.dc.pem }, timeout = 10, connect_timeout = 5, init = H.INIT,
        proxy = proxies.parse(T.dc:proxy_url(kind)) }
      local r = assert(H.call(conn, { _ = "help.getNearestDc" }))
      assert.equal(2, r.this_dc)                               -- served by DC 2 (|-2|)
      conn:close()
    end
    assert.same({ -2, -2 }, inits(from))
  end)

  it("a SOCKS5 proxy given as a table, without a login", function()
    local open = H.start_microsocks()
    local c = H.client(T.dc, { proxy = { type = "socks5", host = "127.0.0.1", port = open.port } })
    local sent = assert(send_code(c))
    assert.equal("auth.sentCode", sent._)
    c:close()
    open.stop()
  end)

  it("a server that is no proxy (an HTTP answer): PROXY_PROTOCOL_ERROR for SOCKS5 and for ee", function()
    local port, stop = answer_server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    local links = {
      ("socks5://127.0.0.1:%d"):format(port),
      ("socks5://u:p@127.0.0.1:%d"):format(port),
      ("tg://proxy?server=127.0.0.1&port=%d&secret=ee%s%s"):format(port, SECRET, H.hex("example.com")),
    }
    for _, url in ipairs(links) do
      local c = H.client(T.dc, { proxy = url, timeout = 5 })
      local r, err = send_code(c)
      assert.is_nil(r, url)
      assert.equal("PROXY_PROTOCOL_ERROR", err.message, url .. ": " .. tostring(err))
      assert.equal(-24, err.code)
      c:close()
    end
    stop()
  end)
end)

describe("proxies under the event loops", function()
  local T = H.use_testdc{ dcs = 2, mtproxy = SECRET, flood = false }
  local socks, silent
  lazy_setup(function()
    socks = H.start_microsocks{ user = "erin", password = "pw" }
    silent = H.start_microsocks()
    silent.pause()                                  -- the kernel accepts, nobody answers
  end)
  lazy_teardown(function()
    if socks then socks.stop() end
    if silent then silent.stop() end
  end)

  -- fn() inside a coroutine of `mode`'s loop; its results.
  local function in_loop(mode, fn)
    local r
    if mode == "cqueues" then
      local cq = require("cqueues").new()
      cq:wrap(function() r = table.pack(pcall(fn)) end)
      assert(cq:loop())
    else
      local uv = require("luv")
      coroutine.wrap(function() r = table.pack(pcall(fn)) end)()
      uv.run()
    end
    assert(r, "the loop ended before the coroutine")
    assert(r[1], r[2])
    return table.unpack(r, 2, r.n)
  end

  for _, mode in ipairs { "cqueues", "luv" } do
    local have = pcall(require, mode)
    it(mode .. ": sendCode and resendCode through an ee MTProxy and through microsocks with a login", function()
      if not have then pending(mode .. " is not installed") return end
      local proxies_used = { T.dc:proxy_url("ee"), ("socks5://erin:pw@127.0.0.1:%d"):format(socks.port) }
      for _, url in ipairs(proxies_used) do
        local sent, again = in_loop(mode, function()
          local c = H.client(T.dc, { proxy = url, loop = mode })
          local s1 = assert(send_code(c))
          local s2 = assert(c.auth.resendCode{ phone_number = "9996621234", phone_code_hash = s1.phone_code_hash })
          c:close()
          return s1, s2
        end)
        assert.equal("auth.sentCode", sent._, url)
        assert.equal("auth.sentCodeTypeSms", again.type._, url)
      end
    end)

    it(mode .. ": a proxy that never answers: TIMEOUT within the call's timeout", function()
      if not have then pending(mode .. " is not installed") return end
      local r, err, took = in_loop(mode, function()
        local c = H.client(T.dc, { proxy = ("socks5://127.0.0.1:%d"):format(silent.port), loop = mode,
          timeout = 1, connect_timeout = 1 })
        local t0 = core.conn.monotonic()
        local r1, e1 = send_code(c)
        local dt = core.conn.monotonic() - t0
        c:close()
        return r1, e1, dt
      end)
      assert.is_nil(r)
      assert.equal("TIMEOUT", err.message)
      assert.is_true(took < 3, "took " .. took .. " s")       -- 1 s timeout, generous margin
    end)
  end
end)
