-- wrk script for the POST scenarios: sends the file named by BODY_FILE as a JSON body to the
-- URL's path on every request.
local file = assert(io.open(assert(os.getenv("BODY_FILE"), "BODY_FILE not set"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
