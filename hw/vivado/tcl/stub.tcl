# exitflow dry run: stand-ins for the Vivado Tcl commands create_project.tcl uses. Each one
# records its call (one line per record, fields separated by tabs) and returns what the script
# needs to go on; Vivado's own outputs (bitstream, handoff, reports) are written as empty files
# where Vivado writes them. Any other command is an error (`unknown`), so a command the script
# uses that this file does not model fails the dry run.
#   tclsh stub.tcl <log> <vivado version> <board-file version> <script> ?tclargs...?

set stub_log [open [lindex $argv 0] w]
set stub_version [lindex $argv 1]
set stub_board_version [lindex $argv 2]
set stub_script [lindex $argv 3]
set argv [lrange $argv 4 end]
set argc [llength $argv]
set stub_proj_dir ""
set stub_proj_name ""

proc rec {args} {
    set clean {}
    foreach a $args { lappend clean [string map {"\t" " " "\n" " "} $a] }
    puts $::stub_log [join $clean "\t"]
}
proc stub_touch {path} {
    file mkdir [file dirname $path]
    close [open $path w]
    rec output $path
}
proc stub_opts {argsv flags} {
    # split args into options (dict) and positionals; `flags` take no value
    set opts {}
    set pos {}
    for {set i 0} {$i < [llength $argsv]} {incr i} {
        set a [lindex $argsv $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            if {[lsearch -exact $flags $a] >= 0} {
                dict set opts $a 1
            } else {
                incr i
                dict set opts $a [lindex $argsv $i]
            }
        } else {
            lappend pos $a
        }
    }
    return [list $opts $pos]
}

proc version {args} { rec call version {*}$args; return $::stub_version }
proc create_project {args} {
    rec call create_project {*}$args
    lassign [stub_opts $args {-force}] opts pos
    set ::stub_proj_name [lindex $pos 0]
    set ::stub_proj_dir [lindex $pos 1]
    file mkdir $::stub_proj_dir
    rec project [lindex $pos 0] [lindex $pos 1] [dict get $opts -part]
}
proc current_project {args} { return project }
proc current_fileset {args} { return fileset }
proc get_param {name} { rec call get_param $name; return {} }
proc set_param {args} { rec call set_param {*}$args }
proc get_board_parts {args} {
    rec call get_board_parts {*}$args
    if {$::stub_board_version eq "none"} { return {} }
    return [string map [list * $::stub_board_version] [lindex $args end]]
}
proc set_property {args} {
    rec call set_property {*}$args
    if {[lindex $args 0] eq "-dict"} {
        set obj [lindex $args 2]
        foreach {k v} [lindex $args 1] { rec prop $obj $k $v }
    } else {
        rec prop [lindex $args 2] [lindex $args 0] [lindex $args 1]
    }
}
proc get_property {name obj} {
    rec call get_property $name $obj
    switch -- $name {
        VLNV { return $obj }
        PROGRESS { return "100%" }
        STATUS { return "write_bitstream Complete!" }
        DIRECTORY { return [file join $::stub_proj_dir $::stub_proj_name.runs $obj] }
    }
    error "stub: get_property $name is not modelled"
}
proc get_ipdefs {args} {
    rec call get_ipdefs {*}$args
    return [string map {* 9.9} [lindex $args end]]
}
proc add_files {args} {
    rec call add_files {*}$args
    lassign [stub_opts $args {-norecurse}] opts pos
    foreach f [concat {*}$pos] { rec file $f [file isfile $f] }
}
proc get_files {args} {
    rec call get_files {*}$args
    set name [lindex $args end]
    if {$name eq "top.bd"} {
        return [file join $::stub_proj_dir $::stub_proj_name.srcs sources_1 bd top top.bd]
    }
    return $name
}
proc update_compile_order {args} { rec call update_compile_order {*}$args }
proc create_bd_design {name} { rec call create_bd_design $name; rec bd $name }
proc create_bd_cell {args} {
    rec call create_bd_cell {*}$args
    lassign [stub_opts $args {}] opts pos
    set name [lindex $pos 0]
    if {[dict get $opts -type] eq "module"} {
        rec cell $name module [dict get $opts -reference]
    } else {
        rec cell $name ip [dict get $opts -vlnv]
    }
    return $name
}
proc get_bd_cells {args} { rec call get_bd_cells {*}$args; rec cellref [lindex $args end]; return [lindex $args end] }
proc get_bd_pins {path} { rec pin net $path; return $path }
proc get_bd_intf_pins {path} { rec pin intf $path; return $path }
proc connect_bd_net {args} {
    rec call connect_bd_net {*}$args
    lassign [stub_opts $args {}] opts pos
    rec net net {*}$pos
}
proc connect_bd_intf_net {args} {
    rec call connect_bd_intf_net {*}$args
    lassign [stub_opts $args {}] opts pos
    rec net intf {*}$pos
}
proc apply_bd_automation {args} {
    rec call apply_bd_automation {*}$args
    lassign [stub_opts $args {}] opts pos
    rec automation [dict get $opts -rule] [lindex $pos 0]
}
proc assign_bd_address {args} { rec call assign_bd_address {*}$args }
proc validate_bd_design {args} { rec call validate_bd_design {*}$args }
proc save_bd_design {args} { rec call save_bd_design {*}$args }
proc make_wrapper {args} {
    rec call make_wrapper {*}$args
    set path [file join $::stub_proj_dir $::stub_proj_name.gen sources_1 bd top hdl top_wrapper.v]
    stub_touch $path
    return $path
}
proc get_runs {name} { return $name }
proc launch_runs {args} {
    rec call launch_runs {*}$args
    set run [file join $::stub_proj_dir $::stub_proj_name.runs impl_1]
    stub_touch [file join $run top_wrapper.bit]
    stub_touch [file join $::stub_proj_dir $::stub_proj_name.gen sources_1 bd top hw_handoff top.hwh]
}
proc wait_on_run {args} { rec call wait_on_run {*}$args }
proc open_run {args} { rec call open_run {*}$args }
proc report_utilization {args} {
    rec call report_utilization {*}$args
    stub_touch [dict get [lindex [stub_opts $args {}] 0] -file]
}
proc report_timing_summary {args} {
    rec call report_timing_summary {*}$args
    stub_touch [dict get [lindex [stub_opts $args {}] 0] -file]
}
proc write_hw_platform {args} {
    rec call write_hw_platform {*}$args
    lassign [stub_opts $args {-fixed -include_bit -force}] opts pos
    stub_touch [lindex $pos 0]
}
rename unknown stub_tcl_unknown
proc unknown {args} {
    rec unknown [lindex $args 0]
    error "stub: the script calls '[lindex $args 0]', which the dry run does not model"
}

set stub_rc 0
if {[catch {source $stub_script} msg]} {
    rec error $msg
    set stub_rc 1
} else {
    rec done
}
close $stub_log
exit $stub_rc
