-- A login resumed from the session file by another process (lua5.4), in every state: the
-- state is read back with its fields, and the next step works there with the saved key only.
local helpers = require("helpers")

-- A Lua literal for numbers, strings, booleans and tables of them.
local function literal(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[#out + 1] = "[" .. literal(k) .. "]=" .. literal(x) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- The child: for each job { path, step, arg }, open the session, print the state (and a
-- field), do the step and print the state after it.
local CHILD = [==[
local mtproto = require("mtproto")
for _, job in ipairs(jobs) do
  local c = assert(mtproto.client{ api_id = opts.api_id, api_hash = opts.api_hash, session = job[1],
    timeout = 5, dc_options = opts.dc_options })
  local st = c:login_state()
  local field = job[4] and tostring(st[job[4]]) or "-"
  local r, err = c[job[2]](c, job[3])
  io.write(st.state, " ", field, " ", job[2], " ", r and "ok" or tostring(err and err.message),
    " ", c:login_state().state, "\n")
  c:close()
end
]==]

describe("a login resumed in another process", function()
  local T = helpers.use_testdc{ dcs = 2, resend_timeout = 0, flood = false }

  it("continues from every state", function()
    local dc = T.dc
    local jobs, expect, cleanup = {}, {}, {}
    -- start a login in this process, save it, and say what the child must do and see
    local function add(step_fn, child_step, child_arg, field, line)
      local path = tmpname()
      cleanup[#cleanup + 1] = path
      local c = helpers.client(dc, { session = path })
      step_fn(c)
      c:close()
      jobs[#jobs + 1] = { path, child_step, child_arg, field }
      expect[#expect + 1] = line
    end
    add(function(c) assert(c:send_code("9996621201")) end, "sign_in", "22222", "phone",
      "wait_code 9996621201 sign_in ok ready")
    add(function(c) assert(c:send_code("9996628202")) end, "resend_code", nil, "phone",
      "wait_code 9996628202 resend_code ok wait_code")
    add(function(c) assert(c:send_code("9996624203")) end, "set_login_email", "x@example.com",
      "apple_signin_allowed", "wait_email_address true set_login_email ok wait_email_code")
    add(function(c) assert(c:send_code("9996624204")); assert(c:set_login_email("y@example.com")) end,
      "verify_login_email", "22222", "email_pattern", "wait_email_code y***@example.com verify_login_email ok wait_email_code")
    add(function(c) assert(c:send_code("9996626205")) end, "sign_in", "22222", "length",
      "wait_email_code 5 sign_in ok ready")
    add(function(c) assert(c:send_code("9996623206")); assert(c:sign_in("22222")) end, "sign_up", "Dee",
      "phone", "wait_registration 9996623206 sign_up ok ready")
    add(function(c) assert(c:send_code("9996627207")) end, "cancel_code", nil, "amount",
      "wait_premium_purchase 499 cancel_code ok wait_phone_number")
    add(function(c)
      assert(c:send_code("9996622210"))
      local _, err = c:sign_in("22222")
      assert.equal("SESSION_PASSWORD_NEEDED", err.message)
    end, "check_password", "testpass", "hint", "wait_password testpass check_password ok ready")
    add(function(c) assert(c:send_code("9996621208")); assert(c:sign_in("22222")) end, "log_out", nil, "state",
      "ready ready log_out ok wait_phone_number")
    -- QR: exported here, accepted by another device, finished by the child
    local other = helpers.client(dc)
    assert(other:send_code("9996621209"))
    assert(other:sign_in("22222"))
    add(function(c)
      local tok = assert(c:qr_login())
      assert(other.auth.acceptLoginToken{ token = tok.token })
    end, "wait_login", 5, "expires", "(the expiry is known once saved)")
    other:close()
    local qr_expires = assert(require("mtproto.session_file").load(jobs[#jobs][1])).login.expires
    expect[#expect] = string.format("wait_other_device %d wait_login ok ready", qr_expires)

    local script = tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write("local jobs = ", literal(jobs), "\nlocal opts = ", literal{ api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, dc_options = dc:options() }, "\n", CHILD)
    f:close()
    local p = io.popen(helpers.LUA .. " '" .. script .. "' 2>&1")
    local out = p:read("a")
    p:close()
    os.remove(script)
    for _, path in ipairs(cleanup) do os.remove(path) end
    -- no rsa_keys in the child: only the saved keys can work
    assert.equal(table.concat(expect, "\n") .. "\n", out)
  end)
end)
