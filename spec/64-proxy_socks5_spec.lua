-- SOCKS5 end to end: the client through Debian's microsocks (a real SOCKS5 server, started
-- and stopped here) to the test DC, with and without a login, with each transport, and the
-- DC address given as an IPv4 literal, an IPv6 literal or a name.
local H = require("helpers")

local TRANSPORTS = { "abridged", "intermediate", "padded", "full", "obfuscated" }

local function send_code(c, phone)
  return c.auth.sendCode{ phone_number = phone, api_id = H.API_ID, api_hash = H.API_HASH,
    settings = { _ = "codeSettings" } }
end

local function sendcode_resendcode(c)
  local sent = assert(send_code(c, "9996621234"))
  assert.equal("auth.sentCode", sent._)
  local again = assert(c.auth.resendCode{ phone_number = "9996621234", phone_code_hash = sent.phone_code_hash })
  assert.equal("auth.sentCodeTypeSms", again.type._)
end

describe("through microsocks", function()
  local T = H.use_testdc{ dcs = 2, flood = false }
  local open, login
  lazy_setup(function()
    open = H.start_microsocks()
    login = H.start_microsocks{ user = "alice", password = "s3cret:pw" }
  end)
  lazy_teardown(function()
    if open then open.stop() end
    if login then login.stop() end
  end)

  for _, tr in ipairs(TRANSPORTS) do
    it("without a login, transport " .. tr, function()
      local c = H.client(T.dc, { proxy = ("socks5://127.0.0.1:%d"):format(open.port), transport = tr })
      sendcode_resendcode(c)
      c:close()
    end)
    it("with a login, transport " .. tr, function()
      local c = H.client(T.dc, { proxy = ("socks5://alice:s3cret%%3Apw@127.0.0.1:%d"):format(login.port), transport = tr })
      sendcode_resendcode(c)
      c:close()
    end)
  end

  it("sends the DC address as given: an IPv6 literal and a name", function()
    local rows = { { "::1", T.dc.ports6 }, { "localhost", T.dc.ports } }
    for _, r in ipairs(rows) do
      if r[2][2] then
        local opts = { [1] = { host = r[1], port = r[2][1] }, [2] = { host = r[1], port = r[2][2] } }
        local c = H.client(T.dc, { dc_options = opts,
          proxy = { type = "socks5", host = "127.0.0.1", port = login.port, username = "alice", password = "s3cret:pw" } })
        sendcode_resendcode(c)
        c:close()
      end
    end
  end)
end)
