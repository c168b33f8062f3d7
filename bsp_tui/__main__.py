from bsp_tui.main import main

main()
