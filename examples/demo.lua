-- examples/demo.lua (`make demo`): starts the local test DC, runs examples/login.lua
-- against it (the code ladder up to SEND_CODE_UNAVAILABLE), then a QR login and a password
-- account, and stops the test DC.
--
-- The phone number 9996611234 lives on DC 1 while the client starts on DC 2: the first
-- auth.sendCode is answered 303 PHONE_MIGRATE_1 and the client moves there by itself. The QR
-- login starts on DC 2 too; the token is accepted by the account of 9996611234 (signed in
-- with its code on another "device"), so the server answers loginTokenMigrateTo DC 1. Last, a
-- password account: its code, then the password (SRP).
local testdc = require("mtproto.testdc")

local root = os.getenv("MTPROTO_ROOT") or (arg and arg[0] and arg[0]:match("^(.*)/examples/[^/]*$")) or "."
local phone = arg and arg[1] or "9996611234"

local dc, err = testdc.start{ dcs = 3 }
if not dc then
  io.stderr:write("demo: ", tostring(err), "\n")
  os.exit(1)
end
print(string.format("test DC running (pid %d): DC 1..%d on %s ports %d, %d, %d; RSA key fingerprint %s",
  dc.pid, dc.dcs, dc.host, dc.ports[1], dc.ports[2], dc.ports[3], dc.fingerprint))

local options = dc:client_options{ api_id = 12345, api_hash = "0123456789abcdef0123456789abcdef", timeout = 10 }
local login = assert(loadfile(root .. "/examples/login.lua"))
local ok, res, lerr = pcall(login, { client = options, phone = phone })

-- QR login: this client shows a tg://login URL; another device of the account accepts it.
local function qr_demo()
  local mtproto = require("mtproto")
  local device = assert(mtproto.client(options))
  assert(device:login{ phone = phone, code = phone:sub(6, 6):rep(5) })
  local client = assert(mtproto.client(options))
  local user, login_err = client:login{
    qr = function(url, expires)
      print(string.format("QR login: show %s (valid until %s)", url, os.date("!%H:%M:%S", expires)))
      local token = assert(client:session_info().login.token)
      print("  the other device (" .. phone .. ") accepts it: auth.acceptLoginToken")
      assert(device.auth.acceptLoginToken{ token = token })
    end,
    on_state = function(st) print("  login state: " .. st.state) end,
  }
  device:close()
  if not user then client:close(); error(login_err, 0) end
  print(string.format("QR login: signed in as %s (id %d) on DC %d", user.first_name, user.id,
    client:session_info().home_dc))
  client:close()
end
-- A password account (99966X2YYY, password "testpass"): the code, then SESSION_PASSWORD_NEEDED,
-- then the password proven with SRP (the test DC checks M1 on its side).
local function password_demo()
  local mtproto = require("mtproto")
  local client = assert(mtproto.client(options))
  local pw_phone = "9996612345"
  print("password account " .. pw_phone .. ":")
  local user, login_err = client:login{
    phone = pw_phone, code = "11111",
    password = function(st)
      print(string.format("  the code was right, now the password (hint %q, recovery %s)", tostring(st.hint),
        st.has_recovery and "by email" or "none"))
      return "testpass"
    end,
    on_state = function(st) print("  login state: " .. st.state) end,
  }
  client:close()
  if not user then error(login_err, 0) end
  print(string.format("password account: signed in as %s (id %d)", user.first_name, user.id))
end
if ok and res then
  local qok, qerr = pcall(qr_demo)
  if not qok then ok, res = false, "QR login: " .. tostring(qerr) end
end
if ok and res then
  local pok, perr = pcall(password_demo)
  if not pok then ok, res = false, "password account: " .. tostring(perr) end
end
dc:stop()
print("test DC stopped")
if not ok or not res then
  io.stderr:write("demo failed: ", tostring(ok and lerr or res), "\n")
  os.exit(1)
end
