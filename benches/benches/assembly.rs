//! Criterion bench of message assembly on the peers' workload (`workload.json`):
//!
//! - `assembly/compose_invitation`: one `Composer::compose` of the workload's
//!   invitation (recipient and UID prepared beforehand).
//! - `assembly/compose_cancellation`: the same recipient's cancellation.
//! - `assembly/batch_compose/1000`: 1,000 invitations to 1,000 prepared
//!   recipients (throughput in elements, i.e. messages).
//! - `assembly/batch_full/1000`: 1,000 messages with all per-recipient work,
//!   as `assemble-workload` times it (format and parse the recipient, draw a
//!   token, build the UID, compose).
//!
//! Kept short (20 samples, 10 for batches; 3 s of measurement each) for a small shared machine.
//! `cargo bench -p calinvite-benches --bench assembly`.

#![allow(
    missing_docs,
    reason = "criterion_group!/criterion_main! generate undocumented public items"
)]

use std::hint::black_box;
use std::time::Duration;

use calinvite_benches::{Assembly, Workload};
use calinvite_core::MessageKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1_000;

fn assembly(c: &mut Criterion) {
    let workload =
        Workload::locate(None).expect("workload.json: set CALINVITE_WORKLOAD to its path");
    let mut prepared = Assembly::new(&workload).expect("workload builds");
    let recipient = prepared.recipient(0).expect("recipient 0");
    let uid = prepared.next_uid().expect("uid");
    let batch: Vec<_> = (0..BATCH)
        .map(|i| {
            (
                prepared.recipient(i).expect("recipient"),
                prepared.next_uid().expect("uid"),
            )
        })
        .collect();

    let mut group = c.benchmark_group("assembly");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.throughput(Throughput::Elements(1));
    group.bench_function("compose_invitation", |b| {
        b.iter(|| {
            prepared
                .compose(MessageKind::Invitation, black_box(&recipient), &uid)
                .expect("compose")
        });
    });
    group.bench_function("compose_cancellation", |b| {
        b.iter(|| {
            prepared
                .compose(MessageKind::Cancellation, black_box(&recipient), &uid)
                .expect("compose")
        });
    });

    // A batch takes ~25 ms: 10 samples (criterion's minimum) fit the time budget.
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("batch_compose/{BATCH}"), |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (r, u) in &batch {
                let m = prepared
                    .compose(MessageKind::Invitation, black_box(r), u)
                    .expect("compose");
                bytes += m.bytes().len();
            }
            bytes
        });
    });
    group.bench_function(format!("batch_full/{BATCH}"), |b| {
        b.iter_batched(
            || Assembly::new(&workload).expect("workload builds"),
            |mut a| {
                let mut bytes = 0;
                for i in 0..BATCH {
                    bytes += a.message(black_box(i)).expect("message").bytes().len();
                }
                bytes
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, assembly);
criterion_main!(benches);
