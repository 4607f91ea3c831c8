TITLE na2.mod   fast sodium channel, Traub-style rates (for Sylva's import tests)

NEURON {
    SUFFIX na2
    USEION na READ ena WRITE ina
    RANGE gbar, gna
    GLOBAL vshift, q10, tadj
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.05 (mho/cm2) <0,1e9>   : peak conductance
    vshift = -10 (mV)               : shift of every rate curve
    q10 = 2.3                       : temperature factor per 10 degC
    temp = 23 (degC)                : temperature of the original recordings
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
    gna (mho/cm2)
    tadj
    minf hinf
    mtau (ms) htau (ms)
}

STATE { m h }

INITIAL {
    trates(v)
    m = minf
    h = hinf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gbar*m*m*m*h
    ina = gna*(v - ena)
}

DERIVATIVE states {
    trates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}

PROCEDURE trates(vm (mV)) {
    LOCAL a, b, vs
    tadj = q10^((celsius - temp)/10)
    vs = vm - vshift
    a = 0.32*efun(13.1 - vs, 4)
    b = 0.28*efun(vs - 40.1, 5)
    mtau = 1/(tadj*(a + b))
    minf = a/(a + b)
    a = 0.128*exp((17 - vs)/18)
    b = 4/(1 + exp((40 - vs)/5))
    htau = 1/(tadj*(a + b))
    hinf = a/(a + b)
}

FUNCTION efun(x, y) {  : x/(exp(x/y) - 1) with its limit y at x = 0
    if (fabs(x/y) < 1e-6) {
        efun = y*(1 - x/y/2)
    } else {
        efun = x/(exp(x/y) - 1)
    }
}
