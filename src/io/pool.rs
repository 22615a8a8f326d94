//! One worker pool for every stage: scoped threads take items in order from
//! a shared counter, so a slow item never holds up the others.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Run `f` on every item with up to `workers` threads; results in item order.
pub fn map<T: Sync, R: Send>(workers: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    run(workers, items.len(), |i| {
        *slots[i].lock().expect("no worker panics") = Some(f(&items[i]));
        true
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("no worker panics")
                .expect("every item ran")
        })
        .collect()
}

/// `map` over owned items: each is moved into `f` once.
pub fn map_owned<T: Send, R: Send>(
    workers: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let items: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    map(workers, &items, |slot| {
        let item = slot.lock().expect("no worker panics").take();
        f(item.expect("each item is taken once"))
    })
}

/// Run `f` on items `0..count` with up to `workers` threads until one fails;
/// the error of the earliest failing item is returned with its index.
pub fn try_each<E: Send>(
    workers: usize,
    count: usize,
    f: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), (usize, E)> {
    let failed: Mutex<Option<(usize, E)>> = Mutex::new(None);
    run(workers, count, |i| {
        if failed.lock().expect("no worker panics").is_some() {
            return false;
        }
        match f(i) {
            Ok(()) => true,
            Err(e) => {
                let mut slot = failed.lock().expect("no worker panics");
                if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                    *slot = Some((i, e));
                }
                false
            }
        }
    });
    match failed.into_inner().expect("no worker panics") {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The loop both share: each worker takes the next index until none is left
/// or `f` says stop.
fn run(workers: usize, count: usize, f: impl Fn(usize) -> bool + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, count.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || !f(i) {
                        break;
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_on_any_number_of_workers() {
        let items: Vec<u64> = (0..100).collect();
        for w in [0, 1, 3, 64, 500] {
            let out = map(w, &items, |x| {
                std::thread::sleep(std::time::Duration::from_micros(100 - x));
                x * 2
            });
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(map(4, &[] as &[u8], |_| ()).is_empty());
    }

    #[test]
    fn try_each_reports_the_earliest_failure_and_stops() {
        let ran = AtomicUsize::new(0);
        let r = try_each(4, 1000, |i| {
            ran.fetch_add(1, Ordering::SeqCst);
            if i == 7 || i == 9 { Err(i) } else { Ok(()) }
        });
        assert_eq!(r, Err((7, 7)));
        // Workers stop taking items once one failed.
        assert!(ran.load(Ordering::SeqCst) < 1000);
        assert_eq!(try_each(3, 50, |_| Ok::<(), ()>(())), Ok(()));
    }
}
