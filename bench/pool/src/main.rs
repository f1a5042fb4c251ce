//! `BENCH_DATABASE_URL=postgres://... cargo run --release`
//!
//! The same point query (`SELECT name FROM bench_items WHERE id = $1`) through
//! (a) diesel-async on a deadpool pool and (b) sync diesel on an r2d2 pool,
//! each call wrapped in `spawn_blocking`, at several concurrencies. Prints
//! queries/s and latency percentiles, and (a)/(b) ratios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool as R2d2Pool};
use diesel::sql_types::{Integer, Text};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::pooled_connection::deadpool::Pool as DeadPool;

const POOL_SIZE: usize = 16;
const QUERIES: usize = 20_000;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    name: String,
}

fn query(id: i32) -> diesel::query_builder::BoxedSqlQuery<'static, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    diesel::sql_query("SELECT name FROM bench_items WHERE id = $1").into_boxed().bind::<Integer, _>(id)
}

struct Outcome {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Outcome {
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Outcome { per_second: latencies.len() as f64 / elapsed.as_secs_f64(), p50: pick(0.5), p99: pick(0.99) }
}

async fn run_async(pool: &DeadPool<diesel_async::AsyncPgConnection>, concurrency: usize) -> Outcome {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..QUERIES / concurrency {
                let t = Instant::now();
                let mut conn = pool.get().await.expect("connection");
                let _: Name = diesel_async::RunQueryDsl::get_result(query(((task * 7919 + i) % 1000) as i32 + 1), &mut conn)
                    .await
                    .expect("row");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    summarise(all, started.elapsed())
}

async fn run_blocking(pool: &R2d2Pool<ConnectionManager<PgConnection>>, concurrency: usize) -> Outcome {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..QUERIES / concurrency {
                let t = Instant::now();
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get().expect("connection");
                    let _: Name = query(((task * 7919 + i) % 1000) as i32 + 1).get_result(&mut conn).expect("row");
                })
                .await
                .expect("blocking task");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    summarise(all, started.elapsed())
}

#[tokio::main]
async fn main() {
    let url = std::env::var("BENCH_DATABASE_URL").expect("set BENCH_DATABASE_URL");
    {
        let mut conn = PgConnection::establish(&url).expect("connect");
        diesel::sql_query("DROP TABLE IF EXISTS bench_items").execute(&mut conn).expect("drop");
        diesel::sql_query("CREATE TABLE bench_items (id int PRIMARY KEY, name text NOT NULL)").execute(&mut conn).expect("create");
        diesel::sql_query("INSERT INTO bench_items SELECT g, 'item ' || g FROM generate_series(1, 1000) g")
            .execute(&mut conn)
            .expect("fill");
    }
    let deadpool = DeadPool::builder(AsyncDieselConnectionManager::new(url.clone()))
        .max_size(POOL_SIZE)
        .build()
        .expect("deadpool");
    // The same pool without the `SELECT 1` that `Verified` recycling runs on
    // every checkout.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let deadpool_fast = DeadPool::builder(AsyncDieselConnectionManager::new_with_config(url.clone(), config))
        .max_size(POOL_SIZE)
        .build()
        .expect("deadpool");
    let r2d2 = Arc::new(
        R2d2Pool::builder().max_size(POOL_SIZE as u32).build(ConnectionManager::<PgConnection>::new(url)).expect("r2d2"),
    );
    // Warm both pools up to full size.
    run_async(&deadpool, POOL_SIZE).await;
    run_async(&deadpool_fast, POOL_SIZE).await;
    run_blocking(&r2d2, POOL_SIZE).await;

    println!("{QUERIES} point queries per run, pool size {POOL_SIZE}, {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("{:>4} | {:>33} | {:>33} | {:>33} | ratios to r2d2", "conc", "diesel-async + deadpool (verified)", "diesel-async + deadpool (fast)", "r2d2 + spawn_blocking");
    let cell = |o: &Outcome| format!("{:>6.0} q/s p50 {:>5}µs p99 {:>5}µs", o.per_second, o.p50.as_micros(), o.p99.as_micros());
    for concurrency in [1, 8, 32, 128] {
        let verified = run_async(&deadpool, concurrency).await;
        let fast = run_async(&deadpool_fast, concurrency).await;
        let blocking = run_blocking(&r2d2, concurrency).await;
        println!(
            "{concurrency:>4} | {} | {} | {} | {:.2}x / {:.2}x",
            cell(&verified),
            cell(&fast),
            cell(&blocking),
            verified.per_second / blocking.per_second,
            fast.per_second / blocking.per_second,
        );
    }
}
