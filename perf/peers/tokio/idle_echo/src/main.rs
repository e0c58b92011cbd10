// The Tokio peer of weft-idle-echo (perf/idle/echo.cc), for perf/idle: a
// task per connection reading into a 4 KiB buffer and writing back what
// came, as a Tokio service that holds many idle connections is written.
//
//   weft-peer-tokio-idleecho --port 0 [--workers N]
//
// Prints "listening on 127.0.0.1:<port> (tokio)" on stderr; runs until
// killed.
use std::env;
use std::process::exit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: weft-peer-tokio-idleecho [--port P] [--workers N]\n\
an echo server for perf/idle (weft-idle); --workers 0: one per CPU\n";

async fn echo(mut conn: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let mut port: u16 = 0;
    let mut workers: usize = 0;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => {
                print!("{}", USAGE);
                exit(0);
            }
            "--port" if i + 1 < args.len() => port = args[i + 1].parse().unwrap_or_else(|_| bad("--port")),
            "--workers" if i + 1 < args.len() => workers = args[i + 1].parse().unwrap_or_else(|_| bad("--workers")),
            other => bad(other),
        }
        i += 2;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    let rt = builder.enable_io().build().expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
            eprintln!("weft-peer-tokio-idleecho: {}", e);
            exit(1)
        });
        eprintln!("listening on {} (tokio)", listener.local_addr().unwrap());
        loop {
            if let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(echo(conn));
            }
        }
    });
}

fn bad(what: &str) -> ! {
    eprint!("weft-peer-tokio-idleecho: bad argument {}\n{}", what, USAGE);
    exit(2)
}
