//! INITIAL run once ahead of the other blocks, for what NEURON computes there once and the
//! other blocks read: PARAMETERs INITIAL changes (Exp2Syn moves `tau1` away from `tau2`) and
//! ASSIGNED values only INITIAL computes (Mainen's `tadj = q10^((celsius - temp)/10)`). Both
//! become `let`s, exact when they do not change in time: a value that reads the voltage, a
//! state or an ion is refused where it is read (NEURON keeps its value from initialisation).

use super::*;

impl Tx<'_> {
    /// Runs INITIAL ahead, its diagnostics dropped (they come from the real run), and keeps
    /// the PARAMETERs it changes (`shadows`) and the ASSIGNED values it computes
    /// (`initial_values`); the `let`s only this run made are in `prepass_lets`.
    pub(super) fn initial_prepass(&mut self) {
        let file = self.file;
        let Some(body) = file.initial() else { return };
        let (saved, lets) = (self.diagnostics.len(), self.lets.len());
        self.block = BlockKind::Initial;
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        self.stmts(body, &mut env);
        self.diagnostics.truncate(saved);
        // The real run of INITIAL finds its `SOLVE … STEADYSTATE` again.
        self.steady_state = None;
        self.prepass_lets = self.lets[lets..].iter().map(|(n, _)| n.clone()).collect();
        let mut values: Vec<(String, Out)> = env.globals.into_iter().collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in values {
            match self.vars.get(&name).map(|v| v.kind) {
                Some(Kind::Param) => {
                    let value = self.bind(&name, value);
                    self.shadows.insert(name, value);
                }
                Some(Kind::Assigned) => {
                    self.initial_values.insert(name, value);
                }
                _ => {}
            }
        }
    }

    /// The value INITIAL gave an ASSIGNED variable no other block computes, when it is constant
    /// in time; otherwise reported.
    pub(super) fn initial_value(&mut self, name: &str, span: Span) -> Option<Out> {
        let value = self.initial_values.get(name)?.clone();
        let varying: HashSet<String> = self
            .vars
            .iter()
            .filter(|(n, v)| {
                matches!(v.kind, Kind::State | Kind::IonRead | Kind::IonState | Kind::Current)
                    || (v.kind == Kind::Builtin && matches!(n.as_str(), "v" | "t"))
            })
            .map(|(n, _)| sylva_name(n))
            .collect();
        let reads = self.names_read(&value.text);
        if let Some(n) = reads.iter().find(|n| varying.contains(*n)) {
            self.unsupported(
                span,
                format!("`{name}` keeps the value INITIAL computed from `{n}`, which changes in time"),
                "read here, computed only in INITIAL",
            );
        }
        Some(value)
    }

    /// Drops the `let`s of the run ahead that nothing reads.
    pub(super) fn drop_unread_prepass_lets(&mut self, blocks: &Blocks) {
        let mut outputs: Vec<&str> = Vec::new();
        outputs.extend(blocks.derivatives.iter().map(|(_, v)| v.text.as_str()));
        outputs.extend(blocks.currents.iter().map(|(_, v)| v.text.as_str()));
        outputs.extend(blocks.initial.iter().map(|(_, v)| v.text.as_str()));
        outputs.extend(blocks.held.iter().map(|(_, v)| v.text.as_str()));
        outputs.extend(blocks.kinetic.iter().map(String::as_str));
        outputs.extend(blocks.event.iter().map(String::as_str));
        outputs.extend(self.lets.iter().filter(|(n, _)| !self.prepass_lets.contains(n)).map(|(_, v)| v.text.as_str()));
        let read: HashSet<String> = outputs.iter().flat_map(|t| self.names_read(t)).collect();
        let prepass = std::mem::take(&mut self.prepass_lets);
        self.lets.retain(|(n, _)| !prepass.contains(n) || read.contains(n));
    }
}
