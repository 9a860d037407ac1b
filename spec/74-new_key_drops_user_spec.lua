-- Regression: after the DC forgot the auth key (transport error -404) the client made a new key
-- but still reported and saved the old user_id, although a new key is not signed in. The user
-- (and the bot flag) is now dropped when the home DC's key changes: session_info().user_id is
-- nil, session_info().signed_out holds a 401 AUTH_KEY_UNREGISTERED error saying why, a warning
-- is logged and the session file no longer names the user.
local helpers = require("helpers")
local mtproto = require("mtproto")

describe("a new auth key on the home DC", function()
  it("drops the signed-in user, says so, and saves it", function()
    local path = os.tmpname()
    os.remove(path)
    local dc = helpers.start_testdc{ dcs = 1 }
    local port = dc.ports[1]
    local lines = {}
    local client <close> = helpers.client(dc, { dc = 1, session = path, timeout = 5, log_level = "warn",
      logger = function(level, msg) lines[#lines + 1] = level .. " " .. msg end })
    assert(client:send_code("9996611234"))
    local auth = assert(client:sign_in("11111"))
    local user_id = auth.user.id
    assert.equal(user_id, client:session_info().user_id)
    local old_key = client:session_info().dcs[1].key_id
    dc:stop()
    -- the DC is back without its keys: -404, a new key, then the answer
    local back <close> = helpers.start_testdc{ dcs = 1, port = port }
    assert(client:invoke{ _ = "ping", ping_id = 1 })
    local info = client:session_info()
    assert.are_not.equal(old_key, info.dcs[1].key_id)
    assert.is_nil(info.user_id)
    assert.is_false(info.bot)
    assert.equal(401, info.signed_out.code)
    assert.equal("AUTH_KEY_UNREGISTERED", info.signed_out.message)
    assert.truthy(info.signed_out.detail:find("user " .. tostring(user_id), 1, true))
    assert.truthy(table.concat(lines, "\n"):find("warn DC 1 forgot the auth key", 1, true))
    client:close()
    local again <close> = assert(mtproto.client(back:client_options{ api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, dc = 1, session = path }))
    assert.equal(info.dcs[1].key_id, again:session_info().dcs[1].key_id)
    assert.is_nil(again:session_info().user_id)
    -- signing in again with the new key clears it
    assert(again:send_code("9996611234"))
    assert(again:sign_in("11111"))
    assert.is_number(again:session_info().user_id)
    assert.is_nil(again:session_info().signed_out)
    again:close()
    os.remove(path)
  end)
end)
