-- Regression: a session save that failed was silent: sign_in returned the authorization,
-- close() returned nothing, and only a logger could have seen that the login was never
-- written. Now the failure stays in session_info().session_error (until a save succeeds), is
-- logged at level "error", and close() returns nil, err (true when the file holds the state).
-- (Specs may run as root, where permission bits stop nothing: these remove the directory or
-- put a file where it was.)
local helpers = require("helpers")
local tmpdir = helpers.tmpdir
local mtproto = require("mtproto")

local PHONE, CODE = "9996621234", "22222"

describe("a session save that fails", function()
  local T = helpers.use_testdc{ dcs = 2 }

  it("in a missing directory: mtproto.client{} returns nil, SESSION_IO at once", function()
    local dir = tmpdir()
    local path = dir .. "/no/such/dir/s.session"
    local c, err = mtproto.client(T.dc:client_options{ api_id = helpers.API_ID, session = path })
    assert.is_nil(c)
    assert.equal("SESSION_IO", err.message)
    assert.truthy(tostring(err):find("no/such/dir", 1, true))
    os.remove(dir)
  end)

  for _, how in ipairs { "removed", "replaced by a file" } do
    it("after the directory was " .. how .. ": sign_in answers, and session_error, the log and close() say it was not saved", function()
      local dir = tmpdir()
      local path = dir .. "/s.session"
      local lines = {}
      local c = helpers.client(T.dc, { session = path, log_level = "error",
        logger = function(level, msg) lines[#lines + 1] = level .. " " .. msg end })
      assert.is_nil(c:session_info().session_error)
      assert(os.execute("rm -rf '" .. dir .. "'"))
      if how == "replaced by a file" then
        local f = assert(io.open(dir, "w"))
        f:write("not a directory")
        f:close()
      end
      assert.truthy(c:send_code(PHONE))
      local auth = c:sign_in(CODE)
      assert.equal("auth.authorization", auth._) -- the server's answer is still returned
      local info = c:session_info()
      assert.is_number(info.user_id)
      assert.equal("SESSION_IO", info.session_error.message)
      assert.truthy(#lines > 0)
      assert.matches("^error the session was not saved: .*SESSION_IO", lines[#lines])
      local ok, err = c:close()
      assert.is_nil(ok)
      assert.equal("SESSION_IO", err.message)
      assert.truthy(tostring(err):find(dir, 1, true))
      -- a second close says the same
      local ok2, err2 = c:close()
      assert.is_nil(ok2)
      assert.equal(err, err2)
      os.remove(dir)
    end)
  end

  it("is cleared by a later save that succeeds: close() then returns true", function()
    local dir = tmpdir()
    local path = dir .. "/s.session"
    local c = helpers.client(T.dc, { session = path })
    assert(os.execute("rm -rf '" .. dir .. "'"))
    assert.truthy(c:send_code(PHONE))
    assert.equal("SESSION_IO", c:session_info().session_error.message)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    assert.equal("auth.authorization", c:sign_in(CODE)._)
    assert.is_nil(c:session_info().session_error)
    assert.is_true(c:close())
    local again = helpers.client(T.dc, { session = path })
    assert.is_number(again:session_info().user_id)
    assert.is_true(again:close())
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
