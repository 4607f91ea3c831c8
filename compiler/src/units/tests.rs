use super::atoms::{BASES, PREFIXES, resolve_name};
use super::parse::suggest;
use super::*;

fn scale(text: &str) -> f64 {
    match parse_unit(text) {
        Ok(u) => u.scale,
        Err(e) => panic!("`{text}` does not parse: {e:?}"),
    }
}

fn assert_close(text: &str, got: f64, want: f64) {
    let rel = ((got - want) / want).abs();
    assert!(rel <= 1e-15, "`{text}`: got {got:e}, want {want:e} (relative error {rel:e})");
}

#[track_caller]
fn check(text: &str, want: f64, dim: Dimension) {
    let u = parse_unit(text).unwrap_or_else(|e| panic!("`{text}` does not parse: {e:?}"));
    assert_close(text, u.scale, want);
    assert_eq!(u.dim, dim, "dimension of `{text}`");
}

#[test]
fn conversions_to_internal_units() {
    use Dimension as D;
    check("mV", 1.0, D::VOLTAGE);
    check("V", 1e3, D::VOLTAGE);
    check("ms", 1.0, D::TIME);
    check("s", 1e3, D::TIME);
    check("um", 1.0, D::LENGTH);
    check("µm", 1.0, D::LENGTH);
    check("μm", 1.0, D::LENGTH);
    check("cm", 1e4, D::LENGTH);
    check("m", 1e6, D::LENGTH);
    check("nA", 1.0, D::CURRENT);
    check("pA", 1e-3, D::CURRENT);
    check("mA", 1e6, D::CURRENT);
    check("uS", 1.0, D::CONDUCTANCE);
    check("nS", 1e-3, D::CONDUCTANCE);
    check("S", 1e6, D::CONDUCTANCE);
    check("MOhm", 1.0, D::RESISTANCE);
    check("Mohm", 1.0, D::RESISTANCE);
    check("MΩ", 1.0, D::RESISTANCE);
    check("ohm", 1e-6, D::RESISTANCE);
    check("Ohm", 1e-6, D::RESISTANCE);
    check("ohm*cm", 1e-2, D::SPECIFIC_RESISTANCE);
    check("S/cm2", 1e-2, D::CONDUCTANCE_DENSITY);
    check("mho/cm2", 1e-2, D::CONDUCTANCE_DENSITY);
    check("mS/cm2", 1e-5, D::CONDUCTANCE_DENSITY);
    check("mA/cm2", 1e-2, D::CURRENT_DENSITY);
    check("uF/cm2", 1e-5, D::SPECIFIC_CAPACITANCE);
    check("nF", 1.0, D::CAPACITANCE);
    check("pF", 1e-3, D::CAPACITANCE);
    check("mM", 1.0, D::CONCENTRATION);
    check("uM", 1e-3, D::CONCENTRATION);
    check("M", 1e3, D::CONCENTRATION);
    check("mol/L", 1e3, D::CONCENTRATION);
    check("mol/l", 1e3, D::CONCENTRATION);
    check("Hz", 1e-3, D::RATE);
    check("kHz", 1.0, D::RATE);
    check("C", 1e12, D::CHARGE);
    check("mol", 1e18, D::AMOUNT);
    check("C/mol", 1e-6, D::MOLAR_CHARGE);
    check("J", 1e15, D::ENERGY);
    check("J/mol/K", 1e-3, D::MOLAR_HEAT_CAPACITY);
    check("J/(mol*K)", 1e-3, D::MOLAR_HEAT_CAPACITY);
    check("K", 1.0, D::TEMPERATURE);
    check("degC", 1.0, D::TEMPERATURE);
    check("L", 1e15, D::VOLUME);
    check("g", 1e6, D::MASS);
    check("kg", 1e9, D::MASS);
    check("W", 1e12, D::POWER);
    check("N", 1e9, D::FORCE);
    check("Pa", 1e-3, D::PRESSURE);
    check("min", 6e4, D::TIME);
    check("1", 1.0, D::NONE);
    check("1/ms", 1.0, D::RATE);
    check("s^-1", 1e-3, D::RATE);
    check("um^3", 1.0, D::VOLUME);
    check("um3", 1.0, D::VOLUME);
    check("cm2", 1e8, D::AREA);
    check("mV/ms", 1.0, D::VOLTAGE_RATE);
    check("mM/ms", 1.0, D::CONCENTRATION_RATE);
    check("1/(ms*mV)", 1.0, D::RATE_PER_VOLTAGE);
    check("1/ms/mV", 1.0, D::RATE_PER_VOLTAGE);
    check("cm/s", 10.0, D::PERMEABILITY);
    check("ohm*cm2", 1e2, D::SPECIFIC_MEMBRANE_RESISTANCE);
    check("daV", 1e4, D::VOLTAGE);
    check("hPa", 1e-1, D::PRESSURE);
    check("dam", 1e7, D::LENGTH);
    check("mm", 1e3, D::LENGTH);
    check("fA", 1e-6, D::CURRENT);
    check("amol", 1.0, D::AMOUNT);
    check("TW", 1e24, D::POWER);
    check("GOhm", 1e3, D::RESISTANCE);
    check("ms/min", 1.0 / 6e4, D::NONE);
}

#[test]
fn derived_units_agree_with_their_definitions() {
    // Each base unit from its SI definition.
    let same = |a: &str, b: &str| {
        let (ua, ub) = (parse_unit(a).unwrap(), parse_unit(b).unwrap());
        assert_eq!(ua.dim, ub.dim, "`{a}` vs `{b}`");
        assert_close(a, ua.scale, ub.scale);
    };
    same("V", "kg*m2/s3/A");
    same("V", "W/A");
    same("S", "A/V");
    same("ohm", "V/A");
    same("F", "C/V");
    same("C", "A*s");
    same("J", "N*m");
    same("W", "J/s");
    same("Pa", "N/m2");
    same("Hz", "1/s");
    same("M", "mol/dm3");
    same("L", "dm^3");
    same("ms*mV", "mV*ms");
    same("mV/ms*um", "mV*um/ms"); // left to right: (mV/ms)*um
    same("mV/ms/um", "mV/(ms*um)");
    same("(mV/ms)^2", "mV2/ms2");
    same("uF/cm2*mV/ms", "uA/cm2"); // C dV/dt is a current density
    same("S/cm2*mV", "mA/cm2");
}

#[test]
fn rt_over_f_is_the_thermal_voltage_in_mv() {
    let r = 8.314462618 * scale("J/mol/K");
    let t = 300.0 * scale("K");
    let f = 96485.33212 * scale("C/mol");
    let u = parse_unit("J/mol/K").unwrap().mul(parse_unit("K").unwrap()).div(parse_unit("C/mol").unwrap());
    assert_eq!(u.dim, Dimension::VOLTAGE);
    let vt = r * t / f;
    assert!((vt - 25.852).abs() < 1e-3, "RT/F = {vt}");
}

#[test]
fn powers_of_ten_are_exact() {
    assert_eq!(scale("S/cm2"), 0.01);
    assert_eq!(scale("mS/cm2"), 1e-5);
    assert_eq!(scale("uF/cm2"), 1e-5);
    assert_eq!(scale("ohm*cm"), 0.01);
    assert_eq!(scale("pA"), 0.001);
    assert_eq!(scale("C/mol"), 1e-6);
    assert_eq!(scale("J/mol/K"), 1e-3);
    // Through Unit arithmetic too, thanks to snapping.
    let s = lookup_atom("S").unwrap();
    let cm2 = lookup_atom("cm2").unwrap();
    assert_eq!(s.div(cm2).scale, 0.01);
    assert_eq!(lookup_atom("mS").unwrap().div(cm2).scale, 1e-5);
    assert_eq!(lookup_atom("cm").unwrap().powi(-2).unwrap().scale, 1e-8);
    // Snapping leaves other numbers alone.
    assert_eq!(snap(0.1 + 0.2), 0.3);
    assert_eq!(snap(1.0 / 3.0), 1.0 / 3.0);
    assert_eq!(snap(std::f64::consts::PI), std::f64::consts::PI);
}

#[test]
fn every_prefixed_atom_resolves_to_its_own_prefix() {
    for b in BASES {
        let got = resolve_name(b.name).unwrap();
        assert_eq!((got.dim, got.exp10), (b.dim, b.exp10), "{}", b.name);
        for &(p, e) in PREFIXES {
            let name = format!("{p}{}", b.name);
            let got = resolve_name(&name);
            if b.prefixable {
                let got = got.unwrap_or_else(|_| panic!("{name}"));
                assert_eq!((got.dim, got.exp10), (b.dim, b.exp10 + e), "{name}");
            } else {
                assert!(got.is_err(), "{name}");
            }
        }
    }
    // Exact base names win over prefix + base.
    assert_eq!(lookup_atom("m").unwrap().dim, Dimension::LENGTH);
    assert_eq!(lookup_atom("M").unwrap().dim, Dimension::CONCENTRATION);
    assert_eq!(lookup_atom("Pa").unwrap().dim, Dimension::PRESSURE);
    assert_eq!(lookup_atom("min").unwrap().dim, Dimension::TIME);
    assert_eq!(lookup_atom("mol").unwrap().dim, Dimension::AMOUNT);
}

#[test]
fn known_units_all_parse_and_are_unique() {
    let known = known_units();
    assert!(known.len() > 200);
    let mut seen = std::collections::HashSet::new();
    for k in &known {
        assert!(seen.insert(*k), "`{k}` listed twice");
        assert!(lookup_atom(k).is_some(), "`{k}` listed but not an atom");
        assert!(parse_unit(k).is_ok(), "`{k}` listed but does not parse");
    }
    for must in ["mV", "mM", "uM", "nA", "pA", "uS", "nS", "mS", "MOhm", "Mohm", "kHz", "um", "µm"] {
        assert!(known.contains(&must), "{must}");
    }
    assert_eq!(known[0], "mV");
    assert!(!known.contains(&"h") && !known.contains(&"mdegC") && !known.contains(&"kmin"));
}

#[test]
fn lookup_atom_takes_one_atom_only() {
    assert_eq!(lookup_atom("ms"), Some(Unit::ONE.mul(Unit::new(Dimension::TIME, 1.0))));
    assert_eq!(lookup_atom("cm2").map(|u| u.dim), Some(Dimension::AREA));
    assert_eq!(lookup_atom("s^-1").map(|u| u.scale), Some(1e-3));
    for bad in ["", "1", "mV*ms", "mV/ms", "h", "hour", "x", "mV ", " mV", "(mV)", "2ms", "m^"] {
        assert_eq!(lookup_atom(bad), None, "`{bad}`");
    }
}

#[track_caller]
fn err(text: &str) -> UnitError {
    match parse_unit(text) {
        Ok(u) => panic!("`{text}` parsed as {u:?}"),
        Err(e) => {
            assert!(e.range.start <= e.range.end && e.range.end <= text.len(), "{e:?}");
            assert!(text.is_char_boundary(e.range.start) && text.is_char_boundary(e.range.end));
            e
        }
    }
}

#[test]
fn errors_point_at_the_atom_and_suggest() {
    let e = err("mv");
    assert_eq!(e.message, "unknown unit `mv`");
    assert_eq!(e.range, 0..2);
    assert_eq!(e.suggestion.as_deref(), Some("mV"));

    let e = err("S/cm2*mv2");
    assert_eq!(e.range, 6..8);
    assert_eq!(e.suggestion.as_deref(), Some("mV"));

    let e = err("xyz");
    assert_eq!(e.message, "unknown unit `xyz`");
    assert_eq!(e.range, 0..3);
    assert_eq!(e.suggestion, None);

    let e = err("1/µx");
    assert_eq!(e.range, 2..5);

    assert_eq!(err("msec").suggestion.as_deref(), Some("ms"));
    assert_eq!(err("sec").suggestion.as_deref(), Some("s"));
    assert_eq!(err("OHM").suggestion.as_deref(), Some("ohm"));
    assert_eq!(err("MOHM").suggestion.as_deref(), Some("MOhm"));
    assert_eq!(err("uf/cm2").suggestion.as_deref(), Some("uF"));
    assert_eq!(err("mVV").suggestion.as_deref(), Some("mV"));
    assert_eq!(err("mvv").suggestion.as_deref(), Some("mV"));
    assert_eq!(err("mSS").suggestion.as_deref(), Some("mS"));
    assert_eq!(err("q").suggestion, None);
    assert_eq!(err("degc").suggestion.as_deref(), Some("degC"));
    assert_eq!(err("mdegC").suggestion.as_deref(), Some("degC"));
    assert!(err("mdegC").message.contains("takes no prefix"));
    assert!(err("kmin").message.contains("takes no prefix"));
    assert!(err("h").message.contains("hecto"));
    assert!(parse_unit("S/cm").is_ok());
    assert_eq!(parse_unit("S/cm").unwrap().dim, Dimension::CONDUCTANCE.div(Dimension::LENGTH));
}

#[test]
fn malformed_units() {
    let e = err("");
    assert_eq!((e.message.as_str(), e.range), ("empty unit", 0..0));

    let e = err("cm^");
    assert_eq!(e.range, 0..3);
    assert!(e.message.contains("power"), "{}", e.message);
    assert_eq!(err("cm^-").range, 0..4);
    assert_eq!(err("cm^+2").range, 0..3);

    let e = err("mV/");
    assert_eq!((e.message.as_str(), e.range), ("expected a unit after `/`", 3..3));
    assert_eq!(err("mV*").message, "expected a unit after `*`");
    assert_eq!(err("*mV").range, 0..1);
    assert_eq!(err("/ms").message, "expected a unit before `/`");
    assert_eq!(err("mV ms").range, 2..3);
    assert!(err(" mV").message.contains("space"));
    assert_eq!(err("mV+ms").range, 2..3);
    assert_eq!(err("m2s").range, 2..3);
    assert_eq!(err("2/ms").range, 0..1);
    assert_eq!(err("10/ms").range, 0..2);
    assert!(err("mV*1").message.contains("may only begin"));
    assert_eq!(err("1/(ms*mV").message, "unclosed `(` in unit");
    assert_eq!(err("1/(ms*mV").range, 2..3);
    assert_eq!(err("mV)").message, "unmatched `)` in unit");
    assert_eq!(err("()").range, 1..2);
    assert_eq!(err("(mV)(ms)").range, 4..5);
    assert_eq!(err("(mV)2").range, 0..5);
    assert!(err("(mV)2").message.contains("`^2`"));
    assert!(err(&"(".repeat(100)).message.contains("nested"));
    assert_eq!(err("mV//ms").range, 3..4);
    assert_eq!(err("mV^^2").range, 0..3);
}

#[test]
fn powers_and_overflow() {
    assert_eq!(parse_unit("um^127").unwrap().dim, Dimension([0, 127, 0, 0, 0, 0]));
    assert_eq!(parse_unit("um^-128").unwrap().dim, Dimension([0, -128, 0, 0, 0, 0]));
    let e = err("m^200");
    assert_eq!(e.range, 0..5);
    assert!(e.message.contains("out of range"));
    assert_eq!(err("m^128").range, 0..5);
    assert_eq!(err("cm200").range, 0..5);
    assert_eq!(err("m^99999999999999999999999").range, 0..25);
    assert_eq!(err("um^100*um^100").range, 7..13);
    assert_eq!(err("(m^100)^2").range, 0..9);
    // Dimension fine, scale beyond f64.
    assert!(err("Tm^100/fm^100").message.contains("scale"));
    assert_eq!(parse_unit("m0").unwrap(), Unit::ONE);

    assert_eq!(Dimension::LENGTH.powi(127), Some(Dimension([0, 127, 0, 0, 0, 0])));
    assert_eq!(Dimension::LENGTH.powi(128), None);
    assert_eq!(Dimension::VOLTAGE.powi(-2), Some(Dimension([-2, -4, 6, 2, 0, 0])));
    assert_eq!(Dimension::VOLTAGE.powi(i32::MAX), None);
    assert_eq!(Dimension::NONE.powi(i32::MAX), Some(Dimension::NONE));
    let big = Dimension([100, 0, 0, 0, 0, 0]);
    assert_eq!(big.checked_mul(big), None);
    assert_eq!(big.mul(big), Dimension([127, 0, 0, 0, 0, 0]));
    assert_eq!(Dimension([-128, 0, 0, 0, 0, 0]).recip(), None);
    assert_eq!(lookup_atom("Tm").unwrap().powi(100), None); // 1e1800
    assert_eq!(lookup_atom("cm").unwrap().powi(3).unwrap().scale, 1e12);
    assert_eq!(Unit::ONE.powi(i32::MAX), Some(Unit::ONE));
}

#[test]
fn describe_and_display() {
    use Dimension as D;
    assert_eq!(D::CONDUCTANCE_DENSITY.describe(), "a conductance density (S/cm2)");
    assert_eq!(D::CURRENT.describe(), "a current (nA)");
    assert_eq!(D::NONE.describe(), "a dimensionless number");
    assert_eq!(D::NONE.display_unit(), "1");
    assert_eq!(D::AREA.describe(), "an area (um2)");
    assert_eq!(D::ENERGY.describe(), "an energy (J)");
    assert_eq!(D::AMOUNT.describe(), "an amount of substance (mol)");
    assert_eq!(D::SPECIFIC_RESISTANCE.describe(), "a specific axial resistance (ohm*cm)");
    assert_eq!(D::RATE.describe(), "a rate (1/ms)");
    assert_eq!(D::TEMPERATURE.describe(), "a temperature (degC)");
    assert_eq!(D::MOLAR_HEAT_CAPACITY.describe(), "a molar heat capacity (J/mol/K)");
    assert_eq!(D::RATE_PER_VOLTAGE.describe(), "a rate per voltage (1/(ms*mV))");
    assert_eq!(D::VOLTAGE.mul(D::TIME).describe(), "a quantity in mV*ms");
    assert_eq!(D::VOLTAGE.mul(D::TIME).div(D::AREA).display_unit(), "mV*ms/um2");
    assert_eq!(D::CONDUCTANCE.div(D::LENGTH).display_unit(), "nA/(mV*um)");
    assert_eq!(D::VOLTAGE.powi(2).unwrap().to_string(), "mV2");
    assert_eq!(D::VOLTAGE.div(D::TEMPERATURE).to_string(), "mV/K");
    assert_eq!(D::CONCENTRATION.div(D::VOLTAGE).to_string(), "mM/mV");
    assert_eq!(D::RATE.powi(2).unwrap().to_string(), "1/ms2");
    assert_eq!(D::AMOUNT.div(D::TIME).to_string(), "mM*um3/ms");
    assert_eq!(format!("{}", D::CONCENTRATION), "mM");
    assert_eq!(D::CONDUCTANCE_DENSITY.quantity_name(), Some("conductance density"));
    assert_eq!(D::CONDUCTANCE_DENSITY.display_scale(), 1e-2);
    assert_eq!(D::VOLTAGE.mul(D::TIME).display_scale(), 1.0);
}

#[test]
fn quantity_table_is_consistent() {
    let mut seen = std::collections::HashSet::new();
    for q in QUANTITIES {
        assert!(seen.insert(q.dim), "{} named twice", q.dim);
        assert_eq!(parse_unit(q.unit).map(|u| u.dim), Ok(q.dim), "{}", q.name);
    }
}

#[test]
fn display_units_parse_back() {
    // All small dimensions, named or not.
    let mut rng = Lcg(7);
    for _ in 0..2000 {
        let d = Dimension(std::array::from_fn(|_| (rng.next() % 9) as i8 - 4));
        let shown = d.display_unit();
        let u = parse_unit(&shown).unwrap_or_else(|e| panic!("{d:?} shown as `{shown}`: {e:?}"));
        assert_eq!(u.dim, d, "`{shown}`");
        if d.quantity_name().is_none() {
            assert_eq!(u.scale, 1.0, "`{shown}` is not in internal units");
        }
    }
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn fuzz_never_panics() {
    const PIECES: &[&str] = &[
        "m",
        "M",
        "s",
        "S",
        "V",
        "A",
        "ohm",
        "Ohm",
        "mol",
        "degC",
        "µ",
        "μ",
        "Ω",
        "u",
        "da",
        "h",
        "Hz",
        "Pa",
        "min",
        "L",
        "l",
        "1",
        "2",
        "0",
        "9",
        "^",
        "-",
        "*",
        "/",
        "(",
        ")",
        " ",
        "é",
        "x",
        "_",
        "12345678901234567890",
        "^-",
        "\u{0}",
        "😀",
        "T",
        "f",
        "a",
    ];
    let mut rng = Lcg(12345);
    for _ in 0..20_000 {
        let n = (rng.next() % 10) as usize;
        let text: String = (0..n).map(|_| PIECES[(rng.next() as usize) % PIECES.len()]).collect();
        match parse_unit(&text) {
            Ok(u) => assert!(u.scale.is_normal() && u.scale > 0.0, "`{text}`: {u:?}"),
            Err(e) => {
                assert!(e.range.start <= e.range.end && e.range.end <= text.len(), "`{text}`");
                assert!(text.is_char_boundary(e.range.start), "`{text}` {e:?}");
                assert!(text.is_char_boundary(e.range.end), "`{text}` {e:?}");
                assert!(!e.message.is_empty());
            }
        }
        let _ = lookup_atom(&text);
        let _ = suggest(&text);
    }
    // Raw random characters too.
    for _ in 0..5_000 {
        let n = (rng.next() % 8) as usize;
        let text: String = (0..n).map(|_| char::from_u32((rng.next() % 0x3000) as u32).unwrap_or('?')).collect();
        let _ = parse_unit(&text);
        let _ = lookup_atom(&text);
    }
}
