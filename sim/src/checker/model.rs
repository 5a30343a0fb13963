//! Sequential specifications the checker checks histories against.
//!
//! A [`Model`] says what a single copy of the object would answer. To ensure correctness:
//! - `step` is a pure function of its arguments (no clocks, no randomness, no interior state);
//! - two states that compare equal behave identically for every later operation, and equal states
//!   hash equally (the checker memoises on fingerprints of `(linearized set, state)`, so hashing
//!   should be cheap and see everything that tells states apart);
//! - `step(state, input, None)` describes an operation whose answer was lost: it returns the
//!   state after the operation took effect with whatever answer it produced (the checker itself
//!   covers "never took effect");
//! - `partition` only separates operations that cannot influence each other's answers; the
//!   checker checks every part from `init()` on its own, so a model may rely on it (the register
//!   keeps one value per part because it always splits by key).

use std::fmt::Debug;
use std::hash::Hash;

use crate::checker::footprint::Footprint;
use crate::checker::history::Operation;

pub mod cas_register;
pub mod om;

/// A sequential specification.
pub trait Model: Sync {
    /// The object's state; cheap to clone and hash pays off directly in checking time.
    type State: Clone + Eq + Hash + Debug + Send;
    /// What a client asks.
    type Input: Debug + Sync + Send;
    /// What a client is told.
    type Output: Debug + Sync + Send;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies one operation to `state`. With `Some(output)`: the new state when `output` is an
    /// answer the object may give in `state`, `None` otherwise. With `None` (the answer was
    /// lost): the state after the operation took effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// True when the operation, with this answer, leaves every state in which it is legal
    /// unchanged (a read; a failed compare-and-set; any request answered with an error). The
    /// search then places it as soon as it can and never tries it later (see `search`). When in
    /// doubt answer `false` (the default): that is always correct, only slower.
    fn is_read_only(&self, input: &Self::Input, output: Option<&Self::Output>) -> bool {
        let _ = (input, output);
        false
    }

    /// The parts of the state the operation, with this answer (`None`: lost), may read and write.
    /// Operations whose footprints do not conflict must commute (see [`Footprint`]); the search
    /// then places a legal operation that commutes with every unplaced operation concurrent
    /// with it at once, without trying other orders. The default, [`Footprint::everything`], is
    /// always correct, only slower.
    fn footprint(&self, input: &Self::Input, output: Option<&Self::Output>) -> Footprint {
        let _ = (input, output);
        Footprint::everything()
    }

    /// True when the operation, had it taken effect in `state` with its answer lost, would have
    /// changed nothing, and would change nothing in any state that agrees with `state` on the
    /// cells its footprint reads (a request that fails, like creating a volume that exists).
    /// The search may then leave a lost operation out of the way of others. The default,
    /// `false`, is always correct.
    fn is_inert(&self, state: &Self::State, input: &Self::Input) -> bool {
        let _ = (state, input);
        false
    }

    /// When the operation is inert in `state` (see [`Model::is_inert`]): a footprint whose reads
    /// keep it so (it changes nothing in any state that agrees with `state` on them). The
    /// default is the lost operation's footprint.
    fn inert_footprint(&self, state: &Self::State, input: &Self::Input) -> Option<Footprint> {
        self.is_inert(state, input)
            .then(|| self.footprint(input, None))
    }

    /// Splits a history into independent sub-histories (lists of indexes into `operations`, each
    /// in ascending order). The default keeps one part.
    fn partition(&self, operations: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..operations.len()).collect()]
    }

    /// One line describing an operation, for verdicts and timelines.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{input:?} -> {output:?}"),
            None => format!("{input:?} -> ?"),
        }
    }

    /// One line describing a state, for verdicts and timelines.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
