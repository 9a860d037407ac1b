-- Proxy failures come back as clear errors within the call's timeout; proxy settings that
-- cannot work raise before anything is sent.
local H = require("helpers")
local mtproto = require("mtproto")
local core = require("mtproto.core")

local function send_code(c)
  return c.auth.sendCode{ phone_number = "9996621234", api_id = H.API_ID, api_hash = H.API_HASH,
    settings = { _ = "codeSettings" } }
end

describe("proxy failures", function()
  local T = H.use_testdc{ dcs = 2 }
  local login
  lazy_setup(function() login = H.start_microsocks{ user = "bob", password = "right" } end)
  lazy_teardown(function() if login then login.stop() end end)

  it("a wrong password: PROXY_AUTH_FAILED", function()
    local c = H.client(T.dc, { proxy = ("socks5://bob:wrong@127.0.0.1:%d"):format(login.port) })
    local r, err = send_code(c)
    assert.is_nil(r)
    assert.equal("PROXY_AUTH_FAILED", err.message)
    assert.equal(-22, err.code)
    assert.matches("refused the username and password", err.detail)
    assert.equal("final", err.kind)
    c:close()
  end)

  it("no login for a proxy that wants one: PROXY_AUTH_FAILED", function()
    local c = H.client(T.dc, { proxy = ("socks5://127.0.0.1:%d"):format(login.port) })
    local _, err = send_code(c)
    assert.equal("PROXY_AUTH_FAILED", err.message)
    assert.matches("wants a username and password", err.detail)
    c:close()
  end)

  it("a target the proxy cannot reach: PROXY_REFUSED with the SOCKS5 reply", function()
    local c = H.client(T.dc, { proxy = ("socks5://bob:right@127.0.0.1:%d"):format(login.port),
      dc_options = { [2] = { host = "127.0.0.1", port = 1 } } })
    local _, err = send_code(c)
    assert.equal("PROXY_REFUSED", err.message)
    assert.equal(-23, err.code)
    assert.matches("did not connect to 127%.0%.0%.1:1: reply 5 %(connection refused%)", err.detail)
    c:close()
  end)

  it("a proxy that never answers: TIMEOUT within the call's timeout", function()
    local silent = H.start_microsocks()
    silent.pause()                                  -- the kernel accepts, nobody answers
    for _, proxy in ipairs { ("socks5://127.0.0.1:%d"):format(silent.port),
                             ("tg://proxy?server=127.0.0.1&port=%d&secret=ee%s%s"):format(silent.port,
                               string.rep("ab", 16), H.hex("example.com")) } do
      local c = H.client(T.dc, { proxy = proxy, timeout = 1, connect_timeout = 1 })
      local t0 = core.conn.monotonic()
      local r, err = send_code(c)
      local took = core.conn.monotonic() - t0
      assert.is_nil(r)
      assert.equal("TIMEOUT", err.message)
      assert.is_true(took < 3, "took " .. took .. " s")       -- 1 s timeout, generous margin
      c:close()
    end
    silent.stop()
  end)

  it("an ee MTProxy link pointing at a SOCKS5 proxy: PROXY_REFUSED during the fake-TLS hello", function()
    local url = ("tg://proxy?server=127.0.0.1&port=%d&secret=ee%s%s"):format(login.port, string.rep("ab", 16),
      H.hex("example.com"))
    local c = H.client(T.dc, { proxy = url, timeout = 2, connect_timeout = 2 })
    local _, err = send_code(c)
    assert.equal("PROXY_REFUSED", err.message)
    assert.matches("the proxy closed the connection during its handshake", err.detail)
    c:close()
  end)

  it("bad proxy settings raise before anything is sent", function()
    local rows = {
      { "tg://proxy?server=h&port=1&secret=z!", "the secret is neither hex nor base64" },
      { "tg://proxy?server=h&port=1&secret=zz", "(got 1 bytes)" },
      { "tg://proxy?server=h&port=1&secret=ee00112233445566778899aabbccddeeff", "needs the domain" },
      { "socks5://h", "expected socks5://" },
      { "http://h:1", "expected tg://proxy" },
      { { type = "socks5", host = "h", port = 70000 }, "port must be 1..65535" },
      { { type = "mtproxy", host = "h", port = 1 }, "needs a secret" },
      { 42, "expected a URL string or a table" },
    }
    for _, r in ipairs(rows) do
      local ok, err = pcall(mtproto.client, T.dc:client_options{ proxy = r[1] })
      assert.is_false(ok)
      assert.matches("^bad argument #1 to 'mtproto%.client' %(proxy: ", err)
      assert.matches(r[2], err, 1, true)
    end
  end)
end)
