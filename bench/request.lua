-- One privacy request per POST of the demo clinic's form, each from a new
-- address, with the session cookie and form token of one visitor (fetched by
-- bench/run and passed in BENCH_COOKIE, BENCH_CSRF and BENCH_ORIGIN).
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end

local counter = 0
local csrf = os.getenv("BENCH_CSRF")
-- The warm-up and the measured run use different addresses.
local phase = os.getenv("BENCH_PHASE") or "run"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")

function request()
    counter = counter + 1
    local body = "csrf=" .. csrf
        .. "&kind=access&name=Bench+Patient&email=bench-" .. phase .. "-" .. id .. "-" .. counter
        .. "%40patients.example&phone=&acting_as=self&subject_name="
        .. "&date_of_birth=1984-03-09&patient_number=LH-20417"
        .. "&details=A+copy+of+my+records%2C+please.&acknowledged=on&website="
    return wrk.format(nil, nil, nil, body)
end
