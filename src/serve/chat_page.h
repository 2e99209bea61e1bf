// The web chat page at `/` (src/serve/chat_page.cpp), compiled into the binary.
#pragma once

namespace cornerstone::serve {

const char* chat_page_html();

}  // namespace cornerstone::serve
