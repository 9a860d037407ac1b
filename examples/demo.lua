-- examples/demo.lua (`make demo`): starts the local test DC, runs examples/login.lua
-- against it, stops the test DC.
--
-- The phone number 9996611234 lives on DC 1 while the client starts on DC 2: the first
-- auth.sendCode is answered 303 PHONE_MIGRATE_1 and the client moves there by itself.
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

local login = assert(loadfile(root .. "/examples/login.lua"))
local ok, res, lerr = pcall(login, {
  client = dc:client_options{ api_id = 12345, api_hash = "0123456789abcdef0123456789abcdef", timeout = 10 },
  phone = phone,
})
dc:stop()
print("test DC stopped")
if not ok or not res then
  io.stderr:write("demo failed: ", tostring(ok and lerr or res), "\n")
  os.exit(1)
end
