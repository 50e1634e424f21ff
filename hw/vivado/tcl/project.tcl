# @DESIGN@ for @BOARD@ (@PART@): the Vivado project of the gated early-exit accelerator,
# written by exitflow @EXITFLOW_VERSION@ (exitflow.hw.vivado): do not edit, regenerate.
#
# Written for Vivado @VERSIONS_TEXT@ (the versions finn-plus 1.6.1 supports); refuses others.
#   vivado -mode batch -source create_project.tcl                        (to output/*.bit, *.hwh)
#   vivado -mode batch -source create_project.tcl -tclargs project_only  (the project, no runs)
# Optional -tclargs: board_repo=<dir> (a folder of Vivado board files), jobs=<n>.
#
# Block design: the processing system (@PS@) with its board preset, an AXI DMA (MM2S: images
# into the accelerator; S2MM: its per-frame records out, TLAST from the shell), AXI-Lite from
# the PS to the DMA and to the accelerator's registers, one fabric clock of @CLOCK_MHZ@ MHz from
# the PS and a processor system reset.

set exitflow_versions {@VERSIONS@}
set exitflow_have [version -short]
if {[lsearch -exact $exitflow_versions $exitflow_have] < 0} {
    error "exitflow: this project was written for Vivado @VERSIONS_TEXT@ (the versions finn-plus 1.6.1 supports), not $exitflow_have. Fix: run it with one of those (exitflow bitstream --vivado /path/to/Vivado/<version>/bin/vivado, or set XILINX_VIVADO)."
}

set project_only 0
set board_repo ""
set jobs 2
foreach arg $argv {
    if {$arg eq "project_only"} {
        set project_only 1
    } elseif {[string match "board_repo=*" $arg]} {
        set board_repo [string range $arg 11 end]
    } elseif {[string match "jobs=*" $arg]} {
        set jobs [string range $arg 5 end]
    } else {
        error "exitflow: unknown argument '$arg' (give project_only, board_repo=<dir> or jobs=<n>)"
    }
}

set root [file normalize [file dirname [info script]]]
set proj_name @PROJECT@
set proj_dir [file join $root vivado]
set out_dir [file join $root output]
file mkdir $out_dir

create_project -force $proj_name $proj_dir -part @PART@
if {$board_repo ne ""} {
    set_param board.repoPaths [concat [get_param board.repoPaths] [list $board_repo]]
}
set board_part [lindex [get_board_parts -quiet -latest_file_version @BOARD_PATTERN@] 0]
if {$board_part eq ""} {
    error "exitflow: the board files of @BOARD@ (@BOARD_PART@) are not installed. Fix: install them from Vivado's board store (Tools > Vivado Store > Boards) or pass -tclargs board_repo=<folder with the board files>."
}
set_property board_part $board_part [current_project]

# Sources: data-file paths (weights, thresholds) are written relative to this folder in the
# copies under rtl/; make them absolute for this location into vivado/src/.
proc exitflow_materialise {root rel} {
    set fin [open [file join $root $rel] r]
    set text [read $fin]
    close $fin
    set dst [file join $root vivado src $rel]
    file mkdir [file dirname $dst]
    set fout [open $dst w]
    puts -nonewline $fout [string map [list @PROJECT_TOKEN@ $root] $text]
    close $fout
    return $dst
}
set sources {}
foreach rel {@SOURCES@} {
    lappend sources [exitflow_materialise $root $rel]
}
add_files -norecurse -fileset sources_1 $sources
add_files -norecurse -fileset constrs_1 [file join $root constraints exitflow.xdc]
update_compile_order -fileset sources_1

create_bd_design top
set ps_vlnv [get_property VLNV [get_ipdefs -all xilinx.com:ip:@PS@:*]]
create_bd_cell -type ip -vlnv $ps_vlnv ps
@PS_SETUP@
set dma_vlnv [get_property VLNV [get_ipdefs -all xilinx.com:ip:axi_dma:*]]
create_bd_cell -type ip -vlnv $dma_vlnv dma
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_addr_width {@DMA_ADDR@} \
    CONFIG.c_m_axis_mm2s_tdata_width {@DMA_IN@} \
    CONFIG.c_m_axi_mm2s_data_width {@DMA_MM_IN@} \
    CONFIG.c_s_axis_s2mm_tdata_width {@DMA_OUT@} \
    CONFIG.c_m_axi_s2mm_data_width {@DMA_MM_OUT@} \
    CONFIG.c_mm2s_burst_size {16} \
    CONFIG.c_s2mm_burst_size {16} \
] [get_bd_cells dma]
set sc_vlnv [get_property VLNV [get_ipdefs -all xilinx.com:ip:smartconnect:*]]
create_bd_cell -type ip -vlnv $sc_vlnv ctrl_sc
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2}] [get_bd_cells ctrl_sc]
create_bd_cell -type ip -vlnv $sc_vlnv mem_sc
set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] [get_bd_cells mem_sc]
set rst_vlnv [get_property VLNV [get_ipdefs -all xilinx.com:ip:proc_sys_reset:*]]
create_bd_cell -type ip -vlnv $rst_vlnv rst
create_bd_cell -type module -reference @SHELL@ accel

# clock and reset
set clk [get_bd_pins ps/@PS_CLK@]
foreach pin {@PS_ACLKS@ dma/s_axi_lite_aclk dma/m_axi_mm2s_aclk dma/m_axi_s2mm_aclk ctrl_sc/aclk mem_sc/aclk rst/slowest_sync_clk accel/ap_clk} {
    connect_bd_net $clk [get_bd_pins $pin]
}
connect_bd_net [get_bd_pins ps/@PS_RESETN@] [get_bd_pins rst/ext_reset_in]
connect_bd_net [get_bd_pins rst/interconnect_aresetn] [get_bd_pins ctrl_sc/aresetn] [get_bd_pins mem_sc/aresetn]
connect_bd_net [get_bd_pins rst/peripheral_aresetn] [get_bd_pins dma/axi_resetn] [get_bd_pins accel/ap_rst_n]

# control: PS master -> DMA registers and the accelerator's registers
connect_bd_intf_net [get_bd_intf_pins ps/@PS_MASTER@] [get_bd_intf_pins ctrl_sc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_sc/M00_AXI] [get_bd_intf_pins dma/S_AXI_LITE]
connect_bd_intf_net [get_bd_intf_pins ctrl_sc/M01_AXI] [get_bd_intf_pins accel/s_axilite]
# data: DMA <-> DDR through the PS's high-performance port; streams through the accelerator
connect_bd_intf_net [get_bd_intf_pins dma/M_AXI_MM2S] [get_bd_intf_pins mem_sc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXI_S2MM] [get_bd_intf_pins mem_sc/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins mem_sc/M00_AXI] [get_bd_intf_pins ps/@PS_SLAVE@]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins accel/s_axis_in]
connect_bd_intf_net [get_bd_intf_pins accel/m_axis_out] [get_bd_intf_pins dma/S_AXIS_S2MM]

assign_bd_address
validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files top.bd] -top]
add_files -norecurse -fileset sources_1 $wrapper
set_property top top_wrapper [current_fileset]
update_compile_order -fileset sources_1

if {$project_only} {
    puts "exitflow: project written to $proj_dir (project_only: no synthesis)"
    return
}

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "exitflow: implementation did not finish ([get_property STATUS [get_runs impl_1]]); see $proj_dir/$proj_name.runs/impl_1/runme.log"
}
open_run impl_1
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -file [file join $out_dir timing.rpt]
file copy -force [file join [get_property DIRECTORY [get_runs impl_1]] top_wrapper.bit] [file join $out_dir @DESIGN@.bit]
set hwh [glob -nocomplain [file join $proj_dir $proj_name.gen sources_1 bd top hw_handoff top.hwh]]
if {[llength $hwh] == 0} {
    error "exitflow: the block design's hardware handoff (top.hwh) was not found under $proj_dir/$proj_name.gen"
}
file copy -force [lindex $hwh 0] [file join $out_dir @DESIGN@.hwh]
write_hw_platform -fixed -include_bit -force [file join $out_dir @DESIGN@.xsa]
puts "exitflow: wrote $out_dir/@DESIGN@.bit and @DESIGN@.hwh"
