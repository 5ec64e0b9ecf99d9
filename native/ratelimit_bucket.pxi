# The bucket arithmetic of impls.ratelimit._cy (included by ratelimit.pyx): pure's _Token and
# _Leaky, operation for operation, on C doubles. ratelimit.pyx compiles with
# -ffp-contract=off, so no multiply and add is fused into a differently rounded FMA.

ctypedef struct _State:  # one bucket: value is tokens (token) or level (leaky)
    double value
    double last


cdef inline bint _take(int kind, double* value, double* last, double cost, double now,
                       double capacity, double rate) noexcept nogil:
    cdef double v = value[0]
    cdef double elapsed = now - last[0]
    cdef bint admitted
    if kind == TOKEN:
        if elapsed > 0.0:
            v = v + elapsed * rate
            if v > capacity:
                v = capacity
            last[0] = now
        admitted = v >= cost
        if admitted:
            v = v - cost
    else:
        if elapsed > 0.0:
            v = v - elapsed * rate
            if v < 0.0:
                v = 0.0
            last[0] = now
        admitted = v + cost <= capacity
        if admitted:
            v = v + cost
    value[0] = v
    return admitted


cdef inline double _token_refilled(double tokens, double last, double now, double capacity, double rate) noexcept nogil:
    cdef double elapsed = now - last
    if elapsed > 0.0:
        tokens = tokens + elapsed * rate
        if tokens > capacity:
            tokens = capacity
    return tokens


cdef inline double _leaky_drained(double level, double last, double now, double rate) noexcept nogil:
    cdef double elapsed = now - last
    if elapsed > 0.0:
        level = level - elapsed * rate
        if level < 0.0:
            level = 0.0
    return level


cdef inline double _fresh_value(int kind, double capacity) noexcept nogil:
    return capacity if kind == TOKEN else 0.0


cdef inline double _available(int kind, double value, double last, double now, double capacity,
                              double rate) noexcept nogil:
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate)
    return capacity - _leaky_drained(value, last, now, rate)


cdef inline bint _is_full(int kind, double value, double last, double now, double capacity, double rate) noexcept nogil:
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate) >= capacity
    return _leaky_drained(value, last, now, rate) <= 0.0


cdef inline double _full_time(int kind, double value, double last, double capacity, double rate) noexcept nogil:
    if kind == TOKEN:
        return last + (capacity - value) / rate
    return last + value / rate


cdef inline double _after(double x) noexcept nogil:
    return nextafter(x, INFINITY) - x


cdef double _wait_until(double ready, double now) noexcept nogil:
    cdef double wait = ready - now
    cdef double step = _after(wait)
    while now + wait < ready:
        wait = wait + step
        step = step + step
    return wait


cdef double _wait(int kind, double value, double last, double cost, double now, double capacity,
                  double rate) noexcept nogil:
    """pure's _Token.wait / _Leaky.wait."""
    cdef double ready, step
    if cost > capacity:
        return INFINITY
    if kind == TOKEN:
        if _token_refilled(value, last, now, capacity, rate) >= cost:
            return 0.0
        ready = last + (cost - value) / rate
        step = _after(ready)
        while _token_refilled(value, last, ready, capacity, rate) < cost:
            ready = ready + step
            step = step + step
    else:
        if _leaky_drained(value, last, now, rate) + cost <= capacity:
            return 0.0
        ready = last + (value + cost - capacity) / rate
        step = _after(ready)
        while _leaky_drained(value, last, ready, rate) + cost > capacity:
            ready = ready + step
            step = step + step
    return _wait_until(ready, now)
