// The echo server of the README, kept compiling.
#include <weft/weft.h>

int main() {
  weft::Runtime rt;
  return rt.run([] {
    auto listener = weft::net::TcpListener::bind({"127.0.0.1", 7878}).value();
    for (;;) {
      auto conn = listener.accept();
      if (!conn) continue;  // e.g. out of descriptors: the error is a value
      weft::spawn([c = std::move(*conn)]() mutable {
        char buf[4096];
        for (;;) {
          auto n = c.read(buf, {.deadline = weft::after(std::chrono::seconds(30))});
          if (!n || *n == 0) return;  // error, idle too long, or peer closed
          if (!c.write_all(weft::ConstBuffer(buf, *n))) return;
        }
      }).detach();
    }
    return 0;
  });
}
