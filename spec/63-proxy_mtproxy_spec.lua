-- MTProxy end to end: the client through the test DC's MTProxy listener with each secret
-- kind (plain, dd, ee) and each transport setting, the DC chosen by the init, wrong secrets.
local H = require("helpers")

local SECRET = "00112233445566778899aabbccddeeff"
local TRANSPORTS = { "abridged", "intermediate", "padded", "full", "obfuscated" }

local function send_code(c, phone)
  return c.auth.sendCode{ phone_number = phone, api_id = H.API_ID, api_hash = H.API_HASH,
    settings = { _ = "codeSettings" } }
end

describe("through the test DC's MTProxy listener", function()
  local T = H.use_testdc{ dcs = 3, mtproxy = SECRET, flood = false }

  it("says its port in the start-up line and makes tg://proxy links", function()
    assert.is_number(T.dc.mtproxy_port)
    assert.matches('"mtproxy_port":' .. T.dc.mtproxy_port, T.dc.line)
    assert.equal(("tg://proxy?server=127.0.0.1&port=%d&secret=ee%s6578616d706c652e636f6d"):format(
      T.dc.mtproxy_port, SECRET), T.dc:proxy_url("ee"))
  end)

  for _, kind in ipairs { "plain", "dd", "ee" } do
    for _, tr in ipairs(TRANSPORTS) do
      it(kind .. " secret, transport " .. tr .. ": sendCode and resendCode", function()
        local c = H.client(T.dc, { proxy = T.dc:proxy_url(kind, "www.example.org"), transport = tr })
        local sent = assert(send_code(c, "9996621234"))
        assert.equal("auth.sentCode", sent._)
        local again = assert(c.auth.resendCode{ phone_number = "9996621234", phone_code_hash = sent.phone_code_hash })
        assert.equal("auth.sentCodeTypeSms", again.type._)
        c:close()
      end)
    end
  end

  it("takes the table form, base64 secrets, and follows PHONE_MIGRATE to another DC through the proxy", function()
    local raw = H.unhex("dd" .. SECRET)
    local proxy = require("mtproto.proxy")
    local secret = H.base64(raw, true)
    assert.equal("dd", select(2, proxy.secret(secret)))
    local c = H.client(T.dc, { proxy = { type = "mtproxy", host = T.dc.host, port = T.dc.mtproxy_port, secret = secret } })
    local sent = assert(send_code(c, "9996631234"))                   -- lives on DC 3: 303 first
    assert.equal("auth.sentCode", sent._)
    assert.equal(3, c:session_info().home_dc)
    c:close()
  end)

  it("a wrong ee secret: PROXY_SECRET_INVALID (the answer is not signed with it)", function()
    local url = T.dc:proxy_url("ee"):gsub("secret=ee00", "secret=ee01")
    local c = H.client(T.dc, { proxy = url, timeout = 5 })
    local r, err = send_code(c, "9996621234")
    assert.is_nil(r)
    assert.equal("PROXY_SECRET_INVALID", err.message)
    assert.equal(-25, err.code)
    assert.equal("final", err.kind)
    c:close()
  end)

  for _, kind in ipairs { "plain", "dd" } do
    it("a wrong " .. kind .. " secret: PROXY_REFUSED (the proxy closes without a word)", function()
      local url = T.dc:proxy_url(kind):gsub("0011223344", "ffffffffff")
      local c = H.client(T.dc, { proxy = url, timeout = 5 })
      local r, err = send_code(c, "9996621234")
      assert.is_nil(r)
      assert.equal("PROXY_REFUSED", err.message)
      assert.matches("wrong secret", err.detail)
      c:close()
    end)
  end

  it("a DC the proxy does not serve: PROXY_REFUSED", function()
    local c = H.client(T.dc, { proxy = T.dc:proxy_url("dd"), dc = 5, timeout = 5,
      dc_options = { [5] = { host = "127.0.0.1", port = 1 } } })
    local r, err = send_code(c, "9996621234")
    assert.is_nil(r)
    assert.equal("PROXY_REFUSED", err.message)
    c:close()
  end)
end)
