// The echo server of the README, kept compiling.
#include <cstdio>
#include <string_view>

#include <weft/weft.h>

int main(int argc, char** argv) {
  if (argc > 1) {  // it takes no options
    const bool help = std::string_view(argv[1]) == "--help";
    std::fputs("usage: weft-echo-minimal   (echoes on 127.0.0.1:7878 until killed)\n",
               help ? stdout : stderr);
    return help ? 0 : 2;
  }
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
