use asynctasq::task;

struct Connection;

#[task]
async fn query(conn: Connection, sql: String) {
    let _ = (conn, sql);
}

fn main() {}
