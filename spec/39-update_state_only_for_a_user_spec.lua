-- A client keeps an update state (pts, handlers, the users and chats of updates) only once a
-- user signs in: the calls of a client that never signs in (a benchmark's, a bot's first
-- calls, a login still waiting for its code) make none. A call once made one for every
-- client, from a test of the signed-in user that took "no update state" for "a different
-- user". The state is the client's own (internal), read through its `_s` field.
local helpers = require("helpers")

local function update_state(client) return rawget(client, "_s").upd end

describe("the update state", function()
  local dc
  lazy_setup(function() dc = helpers.start_testdc{ dcs = 1 } end)
  lazy_teardown(function() if dc then dc:stop() end end)

  it("is not made by the calls of a client that never signs in", function()
    local client <close> = helpers.client(dc, { dc = 1 })
    -- a method function without options (the direct path), one with options, client:invoke,
    -- and a pipelined call
    assert(client.auth.sendCode{ phone_number = "9996610001", api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, settings = {} })
    assert(client.help.getNearestDc({}, { timeout = 10 }))
    assert(client:invoke{ _ = "help.getConfig" })
    assert(client:send{ _ = "help.getNearestDc" }:wait())
    assert.is_falsy(update_state(client))
  end)

  it("is made for the user who signs in, and follows a log-out", function()
    local client <close>, user_id = helpers.signed_in(dc, "9996610002", { dc = 1 })
    local u = update_state(client)
    assert.is_truthy(u)
    assert.equal(user_id, u.self_id)
    assert(client.auth.logOut{})
    assert.is_nil(update_state(client).self_id)
  end)
end)
