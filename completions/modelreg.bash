_modelreg_completion() {
    mapfile -t COMPREPLY < <(env COMP_LINE="${COMP_LINE:0:COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \
                                 _MODELREG_COMPLETE=complete_bash "$1" 2>/dev/null)
    return 0
}

complete -o default -F _modelreg_completion modelreg
